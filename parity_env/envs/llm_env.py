"""A response-level TorchRL env for any task, in the shape of TorchRL's LLM envs (``torchrl.envs.llm.ChatEnv``).

One step: a prompt in, a whole response out, the task's reward. Where the token-level envs
(``parity_env.envs.torch_env``) take one token per step, this one takes the whole response an LLM wrapper generated
(``torchrl.modules.llm.TransformersWrapper`` or ``vLLMWrapper`` with ``generate=True``), judges it with ``task.judge``
and ends the episode, so that TorchRL's LLM stack (``LLMCollector``, ``GRPOLoss`` with ``MCAdvantage``) fine-tunes a
Hugging Face model on the task, e.g. one written by ``parity-cot export`` (``benchmarks/llm_route.py`` runs the
whole loop).

    env = CoTResponseEnv(task, batch_size=16, group_size=4, input_mode="tokens", seed=0)
    td = env.reset()                      # ("tokens", "prompt") (16, prompt_len); "query": the prompts' text
    td = policy(td)                       # a TransformersWrapper(model, input_mode="tokens", generate=True, ...)
    td = env.step(td)                     # ("next", "reward") (16, 1, 1): the task's reward; ("next", "done") True

The two modes of TorchRL's ``ChatEnv`` family (its "history" mode needs a chat format the task does not have):

- ``input_mode="tokens"``: the prompt is ``("tokens", "prompt")``, the task's token ids (int64, one row of
  ``prompt_len`` per env); the response is read from ``("tokens", "response")`` (else ``("tokens", "full")`` past the
  prompt): the wrapper's generated ids, EOS included, PAD (its padding) dropped.
- ``input_mode="text"``: the prompt is ``("text", "prompt")``, ``task.format_tokens``' text with a trailing space (so
  that prompt + response, the way TorchRL writes ``("text", "full")``, is the sequence's text: "1 0 1 SEP 0 1 EOS");
  the response is read from ``("text", "response")`` (else ``("text", "full")`` past the prompt): words of
  ``task.token_names``, whitespace-separated (the tokenizer of ``agents.models.hf_export.task_tokenizer`` decodes
  ids to such text). A word that is not a token name makes the response malformed: reward 0.

Either way ``"query"`` (``ChatEnv``'s data key; ``MCAdvantage``'s default group key) is the prompt's text, and rows
come in blocks of ``group_size`` consecutive rows sharing a prompt: GRPO's groups, ``MCAdvantage(grpo_size=
group_size)`` (the env makes the groups; a wrapper's ``num_samples`` would add a batch dimension the env does not
have; two groups that drew the same prompt join one group of 2 x group_size, which is still one prompt's rollouts,
so every group MCAdvantage completes is a whole one). A response longer
than ``task.max_response_len`` is judged on its first max_response_len tokens (as the token-level envs end it).
The step writes ``("next", "reward")`` with shape (*batch, 1, 1) (a trailing token axis, as TorchRL's LLM reward
transforms write it, so that an advantage broadcasts over a response's tokens), ``done`` and ``terminated`` True,
``success`` (the reward's verdict), ``is_long`` (a long-form answer) and ``answer_length`` (tokens before EOS), and
the next prompt = the whole sequence (``ChatEnv``'s convention; the collector resets the env right after).
Prompts come from the env's own seeded generator (``seed``; ``set_seed``), never from a global one.

Nothing here imports transformers: the text mode reads and writes the task's token names itself.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from tensordict import NonTensorStack, TensorDict, TensorDictBase, set_list_to_stack
from torchrl.data import Bounded, Composite, NonTensor, Unbounded
from torchrl.envs import EnvBase, Transform
from torchrl.modules.llm.policies.common import Masks, Text, Tokens

from ..checks import check_choice, check_int, make_rng
from ..contract import CoTTask

INPUT_MODES = ("tokens", "text")


class CoTResponseEnv(EnvBase):
    """One step per episode: the prompt of a task's problem in, a whole response out, the task's reward.

    The reward is the module docstring's. ``batch_size`` rows (an int or a one-dimensional shape), in blocks of
    ``group_size`` sharing a prompt.
    """

    data_key = "query"

    def __init__(self, task: CoTTask, batch_size: int | tuple | torch.Size = 1, group_size: int = 1,
                 input_mode: Literal["tokens", "text"] = "tokens", seed: int | None = None, device: Any = None):
        if not isinstance(task, CoTTask):
            raise TypeError(f"task must be a parity_env task (a CoTTask); got {type(task).__name__}")
        if isinstance(batch_size, int):
            batch_size = (batch_size,)
        batch_size = torch.Size(batch_size)
        if len(batch_size) != 1:
            raise ValueError(f"batch_size must be one dimension (rows); got {tuple(batch_size)}")
        rows = check_int("batch_size", batch_size[0], 1)
        self.group_size = check_int("group_size", group_size, 1)
        if rows % self.group_size:
            raise ValueError(f"group_size {group_size} must divide batch_size {rows}")
        self.input_mode = check_choice("input_mode", input_mode, INPUT_MODES)
        super().__init__(batch_size=batch_size, device=device)
        self.task = task
        self._words = {name: i for i, name in enumerate(task.token_names)}
        self._rng = make_rng(seed)
        self._problems: np.ndarray | None = None  # (rows, k) the current problems
        self._prompts = torch.zeros(rows, task.prompt_len, dtype=torch.long)  # (rows, P)
        self._make_specs()

    # ---------------------------------------------------------------------------------------------- specs
    def _make_specs(self) -> None:
        shape, device = self.batch_size, self.device
        if self.input_mode == "tokens":
            ragged = dict(shape=(*shape, -1), device=device)
            observation = {
                "tokens": Composite(prompt=Unbounded(dtype=torch.int64, **ragged), shape=shape, data_cls=Tokens,
                                    step_mdp_static=True),
                "masks": Composite(all_attention_mask=Unbounded(dtype=torch.bool, **ragged), shape=shape,
                                   data_cls=Masks, step_mdp_static=True)}
            action = {"tokens": Composite(response=Unbounded(dtype=torch.int64, **ragged), shape=shape,
                                          data_cls=Tokens, step_mdp_static=True)}
        else:
            observation = {"text": Text.default_spec(shape=shape, keys=["prompt"])}
            action = {"text": Text.default_spec(shape=shape, keys=["response"])}
        self.full_observation_spec = Composite(observation, shape=shape, device=device)
        self.full_action_spec = Composite(action, shape=shape, device=device)
        self.full_state_spec = Composite(
            {self.data_key: NonTensor(example_data="a prompt", shape=shape, device=device)}, shape=shape,
            device=device)
        self.full_reward_spec = Composite(reward=Unbounded(shape=(*shape, 1, 1), device=device), shape=shape,
                                          device=device)
        flag = dict(shape=(*shape, 1), dtype=torch.bool, device=device)
        self.full_done_spec = Composite(done=Bounded(0, 1, **flag), terminated=Bounded(0, 1, **flag),
                                        truncated=Bounded(0, 1, **flag), shape=shape, device=device)
        self.full_observation_spec.update(Composite(
            success=Bounded(0, 1, **flag), is_long=Bounded(0, 1, **flag),
            answer_length=Unbounded(shape=(*shape, 1), dtype=torch.int64, device=device), shape=shape,
            device=device))

    # ---------------------------------------------------------------------------------------------- text
    def prompt_text(self, prompt: torch.Tensor) -> str:
        """A prompt's text: its token names and a trailing space (what a response's text continues)."""
        return self.task.format_tokens(prompt) + " "

    def parse_text(self, text: str) -> list[int] | None:
        """A response's token ids from its text (whitespace-separated token names); None if a word is not one."""
        try:
            return [self._words[w] for w in text.split()]
        except KeyError:
            return None

    # ---------------------------------------------------------------------------------------------- env
    def _set_seed(self, seed: int | None) -> None:
        self._rng = make_rng(seed)

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDictBase:
        rows = self.batch_size[0]
        G = self.group_size
        reset = None if tensordict is None else tensordict.get("_reset", None)
        blocks = np.arange(rows // G)
        if reset is not None and self._problems is not None:  # blocks with any row to reset (rows end together)
            blocks = np.unique(torch.nonzero(reset.reshape(rows)).squeeze(1).cpu().numpy() // G)
        if len(blocks):
            problems = self.task.sample_problems(len(blocks), self._rng)  # (blocks, k)
            if self._problems is None or self._problems.shape[1:] != problems.shape[1:]:
                self._problems = np.zeros((rows, problems.shape[1]), dtype=np.int64)
            where = (blocks[:, None] * G + np.arange(G)).reshape(-1)  # the blocks' rows
            self._problems[where] = np.repeat(problems, G, axis=0)
            prompts = torch.from_numpy(np.ascontiguousarray(self.task.prompt_tokens(problems), dtype=np.int64))
            self._prompts[torch.from_numpy(where)] = prompts.repeat_interleave(G, dim=0)
        return self._observation(self._prompts)

    @set_list_to_stack(True)
    def _observation(self, prompts: torch.Tensor) -> TensorDictBase:
        texts = [self.prompt_text(p) for p in prompts]
        out = TensorDict(batch_size=self.batch_size, device=self.device)
        if self.input_mode == "tokens":
            out.set("tokens", Tokens(prompt=prompts.to(self.device), batch_size=self.batch_size,
                                     device=self.device))
            # the prompt's attention mask, which the wrapper reads first: a stale one (the last step's) would not fit
            out.set("masks", Masks(all_attention_mask=torch.ones(prompts.shape, dtype=torch.bool, device=self.device),
                                   batch_size=self.batch_size, device=self.device))
        else:
            text = Text._from_tensordict(TensorDict(batch_size=self.batch_size, device=self.device))
            text.prompt = texts
            out.set("text", text)
        out.set(self.data_key, NonTensorStack(*[s.rstrip() for s in texts], batch_size=self.batch_size))
        flag = torch.zeros((*self.batch_size, 1), dtype=torch.bool, device=self.device)  # no verdict before a step
        out.update({"success": flag, "is_long": flag.clone(), "answer_length": flag.long()})
        return out

    def _responses(self, tensordict: TensorDictBase) -> tuple[np.ndarray, np.ndarray]:
        """(responses (rows, R) int64, PAD-padded and cut at R; malformed (rows,) bool) from the action."""
        rows, R, pad, P = self.batch_size[0], self.task.max_response_len, self.task.pad, self.task.prompt_len
        mode = self.input_mode
        seqs, from_full = _entries(tensordict, (mode, "response")), False
        if seqs is None:
            seqs, from_full = _entries(tensordict, (mode, "full")), True
        if seqs is None:
            raise KeyError(f"{type(self).__name__} ({mode} mode) reads the response from ({mode!r}, 'response') or "
                           f"({mode!r}, 'full'); the tensordict has neither")
        if len(seqs) != rows:
            raise ValueError(f"{type(self).__name__}: {len(seqs)} responses for {rows} rows")
        if mode == "tokens":
            ids = [s.reshape(-1).tolist()[P if from_full else 0 :] for s in seqs]
            ids = [[t for t in s if t != pad] for s in ids]  # a padded tensor's padding
        else:
            if from_full:
                seqs = [t[len(self.prompt_text(p)) :] for t, p in zip(seqs, self._prompts)]
            ids = [self.parse_text(t) for t in seqs]
        out = np.full((rows, R), pad, dtype=np.int64)
        malformed = np.zeros(rows, dtype=bool)
        vocab = self.task.vocab_size
        for i, s in enumerate(ids):
            if s is None or any(not 0 <= t < vocab for t in s):
                malformed[i] = True
                continue
            s = s[:R]
            out[i, : len(s)] = s
        return out, malformed

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        if self._problems is None:
            raise RuntimeError(f"{type(self).__name__}: reset the env before stepping it (no prompt was drawn yet)")
        responses, malformed = self._responses(tensordict)
        v = self.task.judge(self._problems, responses)
        success = np.asarray(v.correct(self.task.reward)) & ~malformed
        shape = (*self.batch_size, 1)
        flag = lambda a: torch.as_tensor(np.asarray(a), device=self.device).reshape(shape)  # noqa: E731
        done = torch.ones(shape, dtype=torch.bool, device=self.device)
        out = self._full_observation(tensordict)
        out.update({"reward": flag(success).float()[..., None], "done": done, "terminated": done.clone(),
                    "truncated": torch.zeros_like(done), "success": flag(success),
                    "is_long": flag(np.asarray(v.is_long) & ~malformed),
                    "answer_length": flag(np.asarray(v.answer_length)).long()})
        return out

    @set_list_to_stack(True)
    def _full_observation(self, tensordict: TensorDictBase) -> TensorDictBase:
        """The next observation: the whole sequence as the prompt (ChatEnv's convention), the same query."""
        mode = self.input_mode
        full = _entries(tensordict, (mode, "full"))
        if full is None:  # the prompt and the response
            responses = _entries(tensordict, (mode, "response"))
            assert responses is not None  # the step's action: the policy wrote the response
            if mode == "tokens":
                full = [torch.cat([p, r.reshape(-1).to(p.device)]) for p, r in zip(self._prompts, responses)]
            else:
                full = [self.prompt_text(p) + r for p, r in zip(self._prompts, responses)]
        out = TensorDict(batch_size=self.batch_size, device=self.device).to_lazystack(0)
        if mode == "tokens":
            tokens, masks = Tokens._from_tensordict(out.empty()), Masks._from_tensordict(out.empty())
            for t, m, f in zip(tokens.unbind(0), masks.unbind(0), full):
                t.prompt = f.reshape(-1).to(self.device)
                m.all_attention_mask = torch.ones(f.numel(), dtype=torch.bool, device=self.device)
            out.set("tokens", tokens)
            out.set("masks", masks)
        else:
            text = Text._from_tensordict(out.empty())
            text.prompt = list(full)
            out.set("text", text)
        out.set(self.data_key, NonTensorStack(*[self.prompt_text(p).rstrip() for p in self._prompts],
                                              batch_size=self.batch_size))
        return out


def _entries(tensordict: TensorDictBase, key: tuple) -> list | None:
    """The rows of ``tensordict[key]`` as a list (1-D tensors of any lengths, or strings); None if absent."""
    try:
        value = tensordict.get(key, None)
    except RuntimeError:  # ragged rows of a lazy stack: read them as a list
        value = ...
    if value is None:
        return None
    if isinstance(value, torch.Tensor) and not value.is_nested:
        return list(value.unbind(0))
    if isinstance(value, torch.Tensor) or value is ...:
        return list(tensordict.get(key, as_list=True))
    if isinstance(value, str):
        return [value]
    value = value.tolist() if hasattr(value, "tolist") else list(value)
    return [v.reshape(-1) if isinstance(v, torch.Tensor) else v for v in value]


class FullLogProbs(Transform):
    """Write ``("log_probs", "full")``, the sampling policy's log-probabilities of each whole sequence.

    ``GRPOLoss`` reads them (as ``sample_log_prob``) and ``TransformersWrapper``'s generation does not give them
    (only the response's, and in TorchRL 0.14 with the first response token's set to 0). ``scorer`` computes them in
    one no-grad pass over ``("tokens", "full")``: a ``TransformersWrapper(model, input_mode="tokens",
    generate=False, return_log_probs=True, pad_output=False)`` of the model that sampled, before it is updated. Use
    it on the replay buffer, before ``MCAdvantage`` (a replay buffer applies the inverse transforms last first):
    ``ReplayBuffer(..., transform=Compose(MCAdvantage(grpo_size=G), FullLogProbs(scorer)))``, or call it on a batch.
    ``RetrieveLogProb`` does the same as an env transform (under ``("next", ...)``). The scorer pads rows of several
    lengths on the left: exact for models that count positions from the attention mask or rotate them (an export of
    the gpt agent: OPT, GPT-NeoX; Llama), not for transformers' GPT-2 (parity_cot.json's
    max_left_padded_logit_diff says which).
    """

    def __init__(self, scorer: Any):
        if getattr(scorer, "generate", True) or getattr(scorer, "input_mode", None) != "tokens":
            raise ValueError("FullLogProbs needs a scorer with input_mode='tokens' and generate=False (a "
                             "TransformersWrapper scoring ('tokens', 'full'))")
        super().__init__(in_keys=[("tokens", "full")], out_keys=[(scorer.log_probs_key, "full")])
        self.scorer = scorer

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        """Write the full-sequence log-probabilities into ``tensordict`` (called on a batch)."""
        return self._add(tensordict)

    def _inv_call(self, tensordict: TensorDictBase) -> TensorDictBase:
        return self._add(tensordict)

    def _add(self, tensordict: TensorDictBase) -> TensorDictBase:
        fulls = tensordict.get(("tokens", "full"), as_list=True)
        with torch.no_grad(), set_list_to_stack(True):
            query = TensorDict(batch_size=[len(fulls)]).to_lazystack(0)
            tokens = Tokens._from_tensordict(query.empty())
            for t, f in zip(tokens.unbind(0), fulls):
                t.full = f.reshape(-1)
            query.set("tokens", tokens)
            scored = self.scorer(query)
        log_probs = scored.get(self.out_keys[0], as_list=True)
        rows = tensordict.unbind(0) if tensordict.batch_dims else [tensordict]
        for row, lp in zip(rows, log_probs):
            row.set(self.out_keys[0], lp.detach())
        return tensordict
