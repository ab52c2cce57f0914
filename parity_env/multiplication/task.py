"""MultiplicationTask: n-digit times m-digit multiplication with a short answer and a chain of partial products.

The paper's second setting (multiplication with chain of thought); the exact format is ours, as the paper's is not
public. It follows the data of Deng et al. 2023 ("Implicit Chain of Thought Reasoning via Knowledge Distillation"):
one token per digit, least-significant digit (LSD) first; the chain lists the partial products a * b_j, each shifted
by j places (j leading zeros in this order) and zero-padded to n + 1 + j digits, joined by ``+``, with the running
sum s_j = pp_0 + ... + pp_j (n + 1 + j digits) in ``( ... )`` after each addition but the last, then ``####`` and
the product (n + m digits, zero-padded). Operands are uniform n- and m-digit numbers with a nonzero leading digit.

Worked example, 3 x 3 digits, 347 x 582 = 201954 (prompt_len 3 + 3 + 2 = 8, short 7 tokens, long 31)::

    prompt   7 4 3 * 2 8 5 ||                                          ids 7 4 3 15 2 8 5 16
    short    #### 4 5 9 1 0 2 EOS                                      ids 13 4 5 9 1 0 2 14
    long     4 9 6 0 + 0 6 7 7 2 ( 4 5 4 8 2 ) + 0 0 5 3 7 1 #### 4 5 9 1 0 2 EOS

    pp_0 = 347 * 2       =    694  -> 4 9 6 0        (n + 1 = 4 digits)
    pp_1 = 347 * 8 * 10  =  27760  -> 0 6 7 7 2      (5 digits)
    s_1  = pp_0 + pp_1   =  28454  -> ( 4 5 4 8 2 )  (5 digits)
    pp_2 = 347 * 5 * 100 = 173500  -> 0 0 5 3 7 1    (6 digits; the last partial product has no running sum)
    product              = 201954  -> #### 4 5 9 1 0 2

Deng et al.'s 4 x 4 line for 3719 x 3349 (prompt, ``||``, the long answer), which ``long_responses`` reproduces::

    9 1 7 3 * 9 4 3 3||1 7 4 3 3 + 0 6 7 8 4 1 ( 1 3 2 2 8 1 ) + 0 0 7 5 1 1 1 ( 1 3 9 7 9 2 1 ) + 0 0 0 7 5 1 1 1
    #### 1 3 9 4 5 4 2 1

Vocabulary: digits 0-9 are ids 0-9, then ``+`` 10, ``(`` 11, ``)`` 12, ``####`` 13, EOS 14 (the 15 emitted tokens,
n_actions = 15), then ``*`` 15, ``||`` 16 (the separator that ends the prompt) and PAD 17 (never emitted). The prompt
is a's digits, ``*``, b's digits, ``||`` (n + m + 2 tokens); the problems are an int64 array (k, 2) of (a, b).

Forms: the short answer is the answer segment alone, ``####`` and the product (1 + n + m tokens: Deng et al.'s
answer-only baseline); the long answer is the chain above. Both forms end with the same answer segment, and they part
at the first response token (``####`` for the short form, a digit for the long one), so P(first token = ``####``) is
the calibration an agent learns from the mixture (``extra_metrics``).

Rewards: "answer" (end-to-end): the response has an EOS and the tokens between the LAST ``####`` before it and the
EOS are exactly the n + m digits of the product (LSD first); anything before that ``####`` is free, so one parse
judges both forms. "cot": the tokens before EOS are exactly the short answer or exactly the chain.

Deng et al.'s: the digit order, the chain, ``####`` and the answer-only form ``#### product`` (their no-CoT
baseline, ``extract_answer`` in their ``src/data.py``). Ours: a vocabulary of 18 tokens with its own ids (they use
GPT-2's tokenizer, whose end-of-text token is both their separator and their EOS), PAD, the mixture of the two forms
(``p_long``), the rewards, and the digit limit (<= 9 per operand, so problems fit int64). ``chance`` is 10^-(n + m),
a uniform guess of the product's digits.

    from parity_env import make_task
    task = make_task("multiplication", digits=3, p_long=0.25)   # = MultiplicationTask(digits=3, p_long=0.25)
    tokens, response_mask, is_long = task.sample_demonstrations(256, seed=0)
    env = task.make_env(batch_size=256, seed=0)                  # the generic TorchRL env
    env = gym.make("MultiplicationCoT-v0", digits=3)              # the generic Gymnasium env

Run ``python -m parity_env.multiplication`` to print this 3 x 3 example computed by the code below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..checks import check_int
from ..contract import CoTTask, Verdicts
from ..hashing import GOLDEN, splitmix64

if TYPE_CHECKING:
    import torch

PLUS, LPAR, RPAR, HASH, EOS, TIMES, SEP, PAD = 10, 11, 12, 13, 14, 15, 16, 17
TOKEN_NAMES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "(", ")", "####", "EOS", "*", "||", "PAD")
N_ACTIONS = 15  # digits, + ( ) #### and EOS
MAX_DIGITS = 9  # per operand: a * b < 10^18 fits int64


def digits_lsd(x: np.ndarray, width: int) -> np.ndarray:
    """The decimal digits (n, width) int64 of the non-negative ints ``x`` (n,), least significant first, zero-padded.

    ``x`` must be below 10^width.
    """
    powers = 10 ** np.arange(width, dtype=np.int64)  # (width,)
    return (np.asarray(x, dtype=np.int64)[:, None] // powers) % 10


@dataclass(frozen=True)
class MultiplicationTask(CoTTask):
    """n-digit times m-digit multiplication, LSD first, with a chain of partial products and running sums.

    The format is the module docstring's.
    """

    name = "multiplication"
    gym_id = "MultiplicationCoT-v0"

    digits: int = 3
    """Digits of the first operand (1-9)."""
    digits_b: int | None = None
    """Digits of the second operand (1-9); None: the same as digits."""
    p_long: float = 0.25
    """Fraction of long (chain-of-thought) demonstrations in the pre-training mixture; never changes the env."""
    max_response_len: int | None = None  # type: ignore[assignment]  # an int once check_settings ran
    """Tokens a response may have, EOS included; None: the long form's length + 1, room for the chain and its EOS."""
    reward: str = "answer"
    """"answer" (the end-to-end reward: the n + m digits after the last #### before EOS are the product) or "cot"
    (exactly the short answer or exactly the chain)."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: the validated values replace the given ones once, here
        set_(self, "digits", check_int("digits", self.digits, 1, MAX_DIGITS))
        if self.digits_b is not None:
            set_(self, "digits_b", check_int("digits_b", self.digits_b, 1, MAX_DIGITS))
        self.check_settings()
        n, m = self.operand_digits
        long_needed, short_needed = self.long_length + 1, self.short_length + 1
        needed, form = (long_needed, "long form (the chain)") if self.p_long > 0 else (short_needed, "short form")
        assert self.max_response_len is not None  # check_settings made it an int
        if self.max_response_len < needed:
            raise ValueError(f"max_response_len {self.max_response_len} is too small for {n} x {m} digit operands: "
                             f"the {form} has {needed - 1} tokens, so a response needs at least {needed} with its EOS "
                             f"(p_long = {self.p_long}); use max_response_len >= {needed} or leave it unset (None: "
                             f"{long_needed})")

    # ------------------------------------------------------------------------------------------------ the contract
    @property
    def token_names(self) -> tuple[str, ...]:
        """0-9, +, (, ), ####, EOS (the emitted ones), *, ||, PAD."""
        return TOKEN_NAMES

    @property
    def n_actions(self) -> int:
        """Tokens an agent emits, the ids 0 .. 14: the digits, +, (, ), #### and EOS."""
        return N_ACTIONS

    @property
    def eos(self) -> int:
        """The EOS token id (emitted: it ends a response)."""
        return EOS

    @property
    def pad(self) -> int:
        """The PAD token id (never emitted: it fills after EOS)."""
        return PAD

    @property
    def prompt_len(self) -> int:
        """The prompt: a's n digits, *, b's m digits, ||."""
        n, m = self.operand_digits
        return n + m + 2

    @property
    def short_length(self) -> int:
        """#### and the product's n + m digits."""
        return 1 + self.product_digits

    @property
    def long_length(self) -> int:
        """The long form's tokens before EOS: 31 for 3 x 3, 55 for 4 x 4.

        The chain: m partial products (n + 1 + j digits), m - 1 +, the running sums s_1 .. s_{m-2} with their
        parentheses, #### and the product.
        """
        n, m = self.operand_digits
        partial = sum(n + 1 + j for j in range(m)) + (m - 1)
        sums = sum(n + 1 + j + 2 for j in range(1, m - 1))
        return partial + sums + self.short_length

    @property
    def chance(self) -> float:
        """10^-(n + m): a short answer that guesses the product's n + m digits uniformly (the chance line of plots)."""
        return 10.0 ** -self.product_digits

    @property
    def ntp_threshold(self) -> float:
        """1/2: long and short part at the first response token (a digit against ``####``).

        After it each form is determined, so a calibrated model's greedy first token is the long form's iff
        p_long > 1/2.
        """
        return 0.5

    @property
    def pretrain_recipe(self) -> dict:
        """A recipe that learns the 3 x 3 chain in every seed tried (``benchmarks/multiplication_recipe.py``).

        GPT 2 x 128 (``gpt2-2x128``), AdamW 3e-3 after 12,800 warm-up samples, the loss on 32 of each batch's short
        rows, decay from 95% exact chains at a half-life of 100k samples down to 5% (parity's one-layer default
        learns this chain slowly; the comparison is in benchmarks/README.md, multiplication).
        """
        return {"agent_config": {"preset": "gpt2-2x128"}, "lr": 3e-3, "schedule": "chain", "warmup_samples": 12_800,
                "batch_size": 256, "short_rows": 32, "decay_trigger": 0.95, "decay_half_life": 100_000,
                "decay_floor": 0.05}

    def sample_problems(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(a, b) pairs (n, 2) int64: a uniform over the digits-digit numbers [10^(digits-1), 10^digits).

        b is uniform over the digits_b-digit ones (a nonzero leading digit, as Deng et al.'s data).
        """
        da, db = self.operand_digits
        a = rng.integers(10 ** (da - 1), 10**da, size=n, dtype=np.int64)
        b = rng.integers(10 ** (db - 1), 10**db, size=n, dtype=np.int64)
        return np.stack([a, b], axis=1)

    def prompt_tokens(self, problems: np.ndarray) -> np.ndarray:
        """The prompts: a's digits, *, b's digits, || (k, n + m + 2), LSD first."""
        a, b = self._operands(problems)
        n, m = self.operand_digits
        return np.concatenate([digits_lsd(a, n), _column(len(a), TIMES), digits_lsd(b, m), _column(len(a), SEP)],
                              axis=1)

    def short_responses(self, problems: np.ndarray) -> np.ndarray:
        """#### and the product's n + m digits (k, 1 + n + m)."""
        a, b = self._operands(problems)
        return np.concatenate([_column(len(a), HASH), digits_lsd(a * b, self.product_digits)], axis=1)

    def long_responses(self, problems: np.ndarray) -> np.ndarray:
        """The chain (k, long_length): pp_0 + pp_1 ( s_1 ) + ... + pp_{m-1} #### product, every row the same length."""
        a, b = self._operands(problems)
        n, m = self.operand_digits
        k = len(a)
        parts, running = [], np.zeros(k, dtype=np.int64)
        for j in range(m):
            partial = a * ((b // 10**j) % 10) * 10**j  # a * b_j shifted by j places: < 10^(n + 1 + j)
            running = running + partial
            if j > 0:
                parts.append(_column(k, PLUS))
            parts.append(digits_lsd(partial, n + 1 + j))
            if 0 < j < m - 1:
                parts += [_column(k, LPAR), digits_lsd(running, n + 1 + j), _column(k, RPAR)]
        parts.append(self.short_responses(problems))
        return np.concatenate(parts, axis=1)

    def answer_correct(self, problems: np.ndarray, responses: np.ndarray, end: np.ndarray) -> np.ndarray:
        """The n + m tokens between the last #### before EOS and the EOS are the product's digits (LSD first).

        What comes before that #### is free.
        """
        a, b = self._operands(problems)
        responses, end = np.asarray(responses), np.asarray(end, dtype=np.int64)
        B, R = responses.shape
        width = self.product_digits
        marker = (responses == HASH) & (np.arange(R) < end[:, None])  # (B, R) the #### before EOS
        has_marker = marker.any(axis=1)
        last = R - 1 - marker[:, ::-1].argmax(axis=1)  # (B,) the last one (garbage where there is none)
        index = np.minimum(last[:, None] + 1 + np.arange(width), R - 1)  # (B, width), clipped: judged by the length
        segment = np.take_along_axis(responses, index, axis=1)
        right = (segment == digits_lsd(a * b, width)).all(axis=1)
        return has_marker & (end - last - 1 == width) & right

    # ------------------------------------------------------------------------------------------------ multiplication's
    @property
    def operand_digits(self) -> tuple[int, int]:
        """(n, m): the digits of a and of b."""
        return self.digits, self.digits if self.digits_b is None else self.digits_b

    @property
    def product_digits(self) -> int:
        """The product's digits: n + m (zero-padded)."""
        return sum(self.operand_digits)

    def hashed_problems(self, key: int, blocks: np.ndarray, episodes: np.ndarray) -> np.ndarray:
        """Problems (N, 2) for blocks ``blocks`` (N,) at episode counters ``episodes`` (N,) under a 64-bit ``key``.

        The batched envs' rule, counter-based and vectorised: a = 10^(n-1) + h_a mod (9 10^(n-1)) and likewise b,
        with h_a, h_b splitmix64 hashes of (key, block, episode) (modulo bias below 10^-9), so equal pairs give equal
        problems.
        """
        blocks = np.asarray(blocks, dtype=np.int64).astype(np.uint64)
        episodes = np.asarray(episodes, dtype=np.int64).astype(np.uint64)
        with np.errstate(over="ignore"):
            seed = splitmix64(np.array([int(key) % 2**64], dtype=np.uint64))
            h = splitmix64(splitmix64(seed ^ blocks) ^ episodes)  # (N,)
            out = []
            for salt, d in zip((1, 2), self.operand_digits):
                u = splitmix64(h + np.uint64(salt * GOLDEN % 2**64))
                low = 10 ** (d - 1)
                out.append((u % np.uint64(9 * low)).astype(np.int64) + low)
        return np.stack(out, axis=1)

    def prompt_ids(self, problems: np.ndarray) -> np.ndarray:
        """The prompt ids a 10^m + b (n,) int64: the two operands' digits side by side, exact (< 10^18)."""
        a, b = self._operands(problems)
        return a * 10 ** self.operand_digits[1] + b

    def extra_metrics(self, agent: Any, problems: np.ndarray, prompts: torch.Tensor, greedy: Verdicts) -> dict:
        """``first_token_long_probability``: the mean over prompts of 1 - P(first response token = ####).

        From one forward pass of ``agent`` on the prompts (the calibration the mixture teaches: p_long for a
        calibrated agent; greedy decoding goes long iff it is above 1/2). The greedy tokens are not passed here, so
        no per-digit accuracy is computed.
        """
        import torch

        with torch.no_grad():
            logits = agent(prompts.long())[:, -1].float()  # (n, n_actions) at the first response position
        p_short = logits.softmax(-1)[:, HASH]
        return {"first_token_long_probability": (1 - p_short).mean().item() if len(p_short) else None}

    def _operands(self, problems: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(a, b), each (k,) int64, of problems (k, 2), checked to have at most n and m digits."""
        problems = np.asarray(problems)
        if problems.ndim != 2 or problems.shape[1] != 2 or not np.issubdtype(problems.dtype, np.integer):
            raise ValueError(f"multiplication problems must be an integer array (k, 2) of (a, b); got dtype "
                             f"{problems.dtype}, shape {problems.shape}")
        problems = problems.astype(np.int64, copy=False)
        a, b = problems[:, 0], problems[:, 1]
        n, m = self.operand_digits
        if len(a) and (a.min() < 0 or a.max() >= 10**n or b.min() < 0 or b.max() >= 10**m):
            raise ValueError(f"multiplication problems must have 0 <= a < 10^{n} and 0 <= b < 10^{m} (digits = {n}, "
                             f"digits_b = {m}); got a in [{a.min()}, {a.max()}], b in [{b.min()}, {b.max()}]")
        return a, b


def _column(k: int, token: int) -> np.ndarray:
    return np.full((k, 1), token, dtype=np.int64)


def worked_example(a: int = 347, b: int = 582) -> str:
    """The module docstring's example computed by the code (``python -m parity_env.multiplication``).

    A problem's prompt, short and long forms with their ids, and the verdicts of a few responses under both rewards.
    """
    n, m = len(str(a)), len(str(b))
    task = MultiplicationTask(digits=n, digits_b=m)
    problems = np.array([[a, b]], dtype=np.int64)
    prompt, short, long_ = (f(problems)[0] for f in (task.prompt_tokens, task.short_responses, task.long_responses))
    lines = [f"{task.describe()}: prompt_len {task.prompt_len}, short_length {task.short_length}, long_length "
             f"{task.long_length}, max_response_len {task.max_response_len}, n_actions {task.n_actions}, "
             f"chance {task.chance:g}",
             f"problem  {a} x {b} = {a * b}",
             f"prompt   {task.format_tokens(prompt)}    ids {' '.join(map(str, prompt))}",
             f"short    {task.format_tokens(short)} EOS    ids {' '.join(map(str, short))} {EOS}",
             f"long     {task.format_tokens(long_)} EOS",
             f"   ids   {' '.join(map(str, long_))} {EOS}",
             "",
             "answer cot demonstrated  response"]
    wrong_chain = long_.copy()
    wrong_chain[1] = (wrong_chain[1] + 1) % 10  # a wrong digit in pp_0; the product after #### is right
    off_by_one = short.copy()
    off_by_one[-1] = (off_by_one[-1] + 1) % 10  # the product's leading digit off by one
    responses = [("the short answer", [*short, EOS]), ("the chain", [*long_, EOS]),
                 ("a wrong chain, the right product", [*wrong_chain, EOS]),
                 ("the product off by one", [*off_by_one, EOS]), ("a digit before ####", [7, *short, EOS]),
                 ("#### with one digit too many", [*short, 0, EOS]), ("no EOS", [*short, *short])]
    R = max(len(r) for _, r in responses)
    batch = np.full((len(responses), R), PAD, dtype=np.int64)
    for i, (_, r) in enumerate(responses):
        batch[i, : len(r)] = r
    v = task.verdicts(np.repeat(problems, len(batch), axis=0), batch)
    for i, (label, r) in enumerate(responses):
        lines.append(f"{int(v.answer_correct[i]):6} {int(v.cot_correct[i]):3} {int(v.demonstrated[i]):12}  "
                     f"{label + ':':34} {task.format_tokens(r)}")
    return "\n".join(lines)
