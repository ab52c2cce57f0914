"""MultiplicationTask (parity_env.multiplication) against an independent oracle written with Python ints and strings:
the two forms (Deng et al.'s 4 x 4 line reproduced exactly), the checker on random, demonstrated and adversarial
responses under both rewards, the settings, the demonstrations' calibration and masks, and the worked example."""

from __future__ import annotations

import math
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from parity_env import make_task, task_from_dict
from parity_env.contract import check_task
from parity_env.multiplication import MultiplicationTask
from parity_env.multiplication import task as task_module

NAMES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "(", ")", "####", "EOS", "*", "||", "PAD")
ID = {name: i for i, name in enumerate(NAMES)}
EMITTED = NAMES[:15]
DENG = ("9 1 7 3 * 9 4 3 3||1 7 4 3 3 + 0 6 7 8 4 1 ( 1 3 2 2 8 1 ) + 0 0 7 5 1 1 1 ( 1 3 9 7 9 2 1 ) + "
        "0 0 0 7 5 1 1 1 #### 1 3 9 4 5 4 2 1")
SIZES = [(1, 1), (2, 2), (3, 3), (4, 4), (2, 3), (3, 2), (1, 4), (5, 1), (9, 9)]


# ------------------------------------------------------------------------------------------------------ the oracle
def lsd(x: int, width: int) -> list[str]:
    """x's decimal digits, least significant first, zero-padded to ``width``."""
    text = str(x)
    assert len(text) <= width and x >= 0
    return list(text.zfill(width)[::-1])


def oracle_prompt(a: int, b: int, n: int, m: int) -> list[str]:
    return lsd(a, n) + ["*"] + lsd(b, m) + ["||"]


def oracle_short(a: int, b: int, n: int, m: int) -> list[str]:
    return ["####"] + lsd(a * b, n + m)


def oracle_long(a: int, b: int, n: int, m: int) -> list[str]:
    """pp_0 + pp_1 ( s_1 ) + ... + pp_{m-1} #### product, from Python ints."""
    b_digits = str(b).zfill(m)[::-1]
    out, total = [], 0
    for j in range(m):
        partial = a * int(b_digits[j]) * 10**j
        total += partial
        if j:
            out.append("+")
        out += lsd(partial, n + 1 + j)
        if 0 < j < m - 1:
            out += ["("] + lsd(total, n + 1 + j) + [")"]
    assert total == a * b
    return out + oracle_short(a, b, n, m)


def oracle_verdict(a: int, b: int, n: int, m: int, row: list[int]) -> dict:
    """Every verdict of one response row (token ids), from scratch."""
    names = [NAMES[t] for t in row]
    if "EOS" not in names:
        return {"answer": False, "cot": False, "demonstrated": False, "is_long": len(names) > 1 + n + m,
                "length": len(names), "finished": False}
    body = names[: names.index("EOS")]
    markers = [i for i, t in enumerate(body) if t == "####"]
    answer = bool(markers) and body[markers[-1] + 1:] == lsd(a * b, n + m)
    long_ = body == oracle_long(a, b, n, m)
    return {"answer": answer, "cot": long_ or body == oracle_short(a, b, n, m), "demonstrated": long_,
            "is_long": len(body) > 1 + n + m, "length": len(body), "finished": True}


def test_oracle_reproduces_deng():
    prompt, answer = DENG.split("||")
    assert oracle_prompt(3719, 3349, 4, 4) == prompt.split() + ["||"]
    assert oracle_long(3719, 3349, 4, 4) == answer.split()


# ------------------------------------------------------------------------------------------------------ the format
def test_deng_line_reproduced_exactly():
    task = MultiplicationTask(digits=4)
    problems = np.array([[3719, 3349]])
    prompt = task.format_tokens(task.prompt_tokens(problems)[0])
    long_ = task.format_tokens(task.long_responses(problems)[0])
    assert prompt.removesuffix(" ||") + "||" + long_ == DENG
    assert task.long_length == len(long_.split()) == 55
    assert task.format_tokens(task.short_responses(problems)[0]) == "#### 1 3 9 4 5 4 2 1"


def test_vocabulary_and_lengths():
    task = MultiplicationTask()
    assert task.token_names == NAMES and task.n_actions == 15 and task.eos == 14 and task.pad == 17
    assert (task.prompt_len, task.short_length, task.long_length, task.max_response_len) == (8, 7, 31, 32)
    assert task.chance == pytest.approx(1e-6) and task.seq_len == 40
    for n, m in SIZES:
        t = MultiplicationTask(digits=n, digits_b=m)
        a, b = 10**n - 1, 10**m - 1  # the longest numbers: every width is full
        assert t.long_length == len(oracle_long(a, b, n, m)) and t.max_response_len == t.long_length + 1
        assert (t.prompt_len, t.short_length) == (n + m + 2, n + m + 1) and t.chance == pytest.approx(10.0 ** -(n + m))
        assert t.expected_response_tokens == pytest.approx(0.25 * (t.long_length + 1) + 0.75 * (n + m + 2))


@pytest.mark.parametrize("n,m", SIZES)
def test_forms_match_the_oracle(n, m):
    task = MultiplicationTask(digits=n, digits_b=m)
    rng = random.Random(n * 10 + m)
    pairs = [(rng.randrange(10 ** (n - 1), 10**n), rng.randrange(10 ** (m - 1), 10**m)) for _ in range(200)]
    pairs += [(10 ** (n - 1), 10 ** (m - 1)), (10**n - 1, 10**m - 1), (10 ** (n - 1), 10**m - 1)]
    problems = np.array(pairs, dtype=np.int64)
    for method, oracle in ((task.prompt_tokens, oracle_prompt), (task.short_responses, oracle_short),
                           (task.long_responses, oracle_long)):
        out = method(problems)
        assert out.dtype == np.int64
        assert [[NAMES[t] for t in row] for row in out.tolist()] == [oracle(a, b, n, m) for a, b in pairs]


def test_docstring_shows_the_code_s_example():
    task = MultiplicationTask()
    problems = np.array([[347, 582]])
    doc = task_module.__doc__
    for line in (task.format_tokens(task.prompt_tokens(problems)[0]),
                 task.format_tokens(task.short_responses(problems)[0]) + " EOS",
                 task.format_tokens(task.long_responses(problems)[0]) + " EOS",
                 " ".join(map(str, task.prompt_tokens(problems)[0])),
                 " ".join(map(str, task.short_responses(problems)[0])) + " 14"):
        assert line in doc, line


# ------------------------------------------------------------------------------------------------------ the checker
def _mutate_digit(tokens: list[str], positions: list[int], rng: random.Random) -> list[str]:
    out = list(tokens)
    i = rng.choice(positions)
    out[i] = str((int(out[i]) + rng.choice((1, 9))) % 10)  # off by one, up or down
    return out


def _responses(a: int, b: int, n: int, m: int, rng: random.Random) -> list[tuple[list[str], bool]]:
    """Adversarial and demonstrated responses to (a, b): (tokens, whether EOS ends them)."""
    short, long_ = oracle_short(a, b, n, m), oracle_long(a, b, n, m)
    hash_at = long_.index("####")
    chain_digits = [i for i in range(hash_at) if long_[i].isdigit()]
    product = lsd(a * b, n + m)
    garbage = [rng.choice([t for t in EMITTED if t != "EOS"]) for _ in range(rng.randrange(1, 12))]
    digit = str(rng.randrange(10))
    out = [
        (short, True), (long_, True),
        (_mutate_digit(long_, chain_digits, rng), True),  # a wrong partial product or running sum: answer right
        (_mutate_digit(long_, list(range(hash_at + 1, len(long_))), rng), True),  # a wrong product digit
        (_mutate_digit(short, list(range(1, len(short))), rng), True),
        (long_[: rng.randrange(0, hash_at + 1)], True),  # cut before ####
        (long_[: rng.randrange(hash_at + 1, len(long_))], True),  # cut inside the product
        (short[:-1], True), (short[:1] + short[2:], True),  # too few digits
        (short + [digit], True), (["####", digit] + product, True),  # too many digits
        (short + short, True), (["####"] + short, True), (short + ["####"], True), (long_ + short, True),
        (short[:1] + [rng.choice("+()")] + short[1:], True),  # a + or ( inside the answer segment
        (short[:-1] + [rng.choice("+()")], True),
        (long_, False), (short, False), ([], True),  # no EOS; EOS first
        (garbage + short, True), (_mutate_digit(long_, chain_digits, rng)[:hash_at] + short, True),
        ([digit] + short, True),  # a leading extra digit before ####: answer right, not the short form
        (["####"], True), (product, True), (long_[:hash_at] + product, True),  # no marker
    ]
    for delta in (1, -1):  # a dropped or extra carry in the product: a * b +- 10^k
        k = rng.randrange(n + m)
        wrong = a * b + delta * 10**k
        if 0 <= wrong < 10 ** (n + m):
            out += [(["####"] + lsd(wrong, n + m), True), (long_[:hash_at] + ["####"] + lsd(wrong, n + m), True)]
        if m >= 3:  # a wrong carry in the running sum s_1: the chain is wrong, the answer right
            s1 = a * (b % 100)
            start = long_.index("(") + 1
            wrong = s1 + delta * 10 ** rng.randrange(n + 2)
            if 0 <= wrong < 10 ** (n + 2):
                out.append((long_[:start] + lsd(wrong, n + 2) + long_[start + n + 2:], True))
    return out


def _check_against_oracle(task: MultiplicationTask, pairs: list[tuple[int, int]], rows: np.ndarray) -> int:
    """Compare every verdict of ``task`` (and of the task with the other reward) on ``rows`` with the oracle;
    returns the number of rows the "answer" reward accepts."""
    n, m = task.operand_digits
    problems = np.array(pairs, dtype=np.int64)
    v = task.verdicts(problems, rows)
    other = task.replace(reward="cot" if task.reward == "answer" else "answer")
    tv = other.judge(problems, torch.from_numpy(rows))
    expected = [oracle_verdict(a, b, n, m, row) for (a, b), row in zip(pairs, rows.tolist())]
    for field, key in (("answer_correct", "answer"), ("cot_correct", "cot"), ("demonstrated", "demonstrated"),
                       ("is_long", "is_long"), ("answer_length", "length"), ("finished", "finished")):
        want = np.array([e[key] for e in expected])
        got = np.asarray(getattr(v, field))
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, (field, [(pairs[i], task.format_tokens(rows[i]), got[i], want[i]) for i in bad[:3]])
        assert np.array_equal(getattr(tv, field).numpy(), want), field
    for t, verdicts in ((task, v), (other, tv)):
        mode = t.reward
        assert np.array_equal(np.asarray(verdicts.correct(mode)), [e[mode] for e in expected])
    return sum(e["answer"] for e in expected)


@pytest.mark.parametrize("reward", ["answer", "cot"])
@pytest.mark.parametrize("n,m", SIZES)
def test_checker_matches_the_oracle(n, m, reward):
    task = MultiplicationTask(digits=n, digits_b=m, reward=reward)
    rng = random.Random(1000 * n + m + (reward == "cot"))
    nrng = np.random.default_rng(n * 10 + m)
    pairs, responses = [], []
    for _ in range(60 if n + m < 18 else 15):
        a, b = rng.randrange(10 ** (n - 1), 10**n), rng.randrange(10 ** (m - 1), 10**m)
        for tokens, eos in _responses(a, b, n, m, rng):
            pairs.append((a, b))
            responses.append(([ID[t] for t in tokens], eos))
    accepted = 0
    for width in (3, task.max_response_len, task.max_response_len + 9):  # the env's width, narrower and wider
        # after the response: uniform emitted tokens (EOS among them) that the checker must ignore
        rows = nrng.integers(0, 15, size=(len(responses), width))
        for i, (ids, eos) in enumerate(responses):
            body = ids + [ID["EOS"]] if eos else ids
            if not eos:
                rows[i] = np.where(rows[i] == ID["EOS"], ID["+"], rows[i])  # no EOS anywhere in the row
            rows[i, : min(len(body), width)] = body[:width]
        accepted += _check_against_oracle(task, pairs, rows)
    assert accepted > len(responses) // 2  # the adversarial set has many rows the answer reward takes
    # uniform random responses, and random prefixes ending in the right answer segment
    k = 2000
    pairs = [(rng.randrange(10 ** (n - 1), 10**n), rng.randrange(10 ** (m - 1), 10**m)) for _ in range(k)]
    rows = nrng.integers(0, 15, size=(k, task.max_response_len))
    rows[: k // 4, 0] = ID["####"]
    _check_against_oracle(task, pairs, rows)
    short = np.array([[ID[t] for t in oracle_short(a, b, n, m)] for a, b in pairs])
    rows = nrng.integers(0, 14, size=(k, task.max_response_len))  # no EOS before the answer segment
    starts = nrng.integers(0, task.max_response_len - short.shape[1], size=k)
    for i, s in enumerate(starts):
        rows[i, s: s + short.shape[1]] = short[i]
        rows[i, s + short.shape[1]] = ID["EOS"] if i % 3 else rows[i, s + short.shape[1]]
    assert _check_against_oracle(task, pairs, rows) > k // 3


@pytest.mark.parametrize("n,m", [(1, 1), (3, 3), (2, 3), (3, 2), (4, 4)])
def test_demonstrations_are_judged_right(n, m):
    task = MultiplicationTask(digits=n, digits_b=m, p_long=0.5)
    tokens, mask, is_long = task.sample_demonstrations(600, seed=n * 10 + m)
    P = task.prompt_len
    number = lambda digits: int("".join(NAMES[t] for t in digits[::-1]))  # LSD-first tokens -> int
    problems = np.array([[number(row[:n]), number(row[n + 1: n + 1 + m])] for row in tokens.tolist()])
    assert (problems[:, 0] >= 10 ** (n - 1)).all() and (problems[:, 1] >= 10 ** (m - 1)).all()
    for t in (task, task.replace(reward="cot")):
        v = t.verdicts(problems, tokens[:, P:])
        assert v.correct(t.reward).all() and v.finished.all()
        assert np.array_equal(v.demonstrated, is_long) and np.array_equal(v.is_long, is_long)
    _check_against_oracle(task, [tuple(p) for p in problems.tolist()], tokens[:, P:])
    for row, (a, b), long_ in zip(tokens.tolist()[:100], problems.tolist(), is_long):
        assert [NAMES[t] for t in row[:P]] == oracle_prompt(a, b, n, m)
        form = oracle_long(a, b, n, m) if long_ else oracle_short(a, b, n, m)
        assert [NAMES[t] for t in row[P:]] == form + ["EOS"] + ["PAD"] * (task.max_response_len - len(form) - 1)


def test_demonstrations_calibration_masks_and_seeds():
    task = MultiplicationTask(digits=3, p_long=0.25)
    n = 20_000
    tokens, mask, is_long = task.sample_demonstrations(n, seed=7)
    assert tokens.shape == mask.shape == (n, task.seq_len) and tokens.dtype == np.int64 and is_long.shape == (n,)
    assert abs(is_long.mean() - 0.25) < 4 * math.sqrt(0.25 * 0.75 / n)
    P = task.prompt_len
    lengths = np.where(is_long, task.long_length, task.short_length)
    expected = np.zeros_like(mask)
    expected[:, P:] = np.arange(task.max_response_len) <= lengths[:, None]  # the answer and its EOS
    assert np.array_equal(mask, expected)
    assert (tokens[np.arange(n), P + lengths] == ID["EOS"]).all()
    assert (tokens[~mask & (np.arange(task.seq_len) >= P)] == ID["PAD"]).all()
    again = task.sample_demonstrations(n, seed=7)
    assert all(np.array_equal(x, y) for x, y in zip((tokens, mask, is_long), again))
    assert not np.array_equal(task.sample_demonstrations(100, seed=8)[0], tokens[:100])
    for p in (0.0, 1.0):
        assert task.replace(p_long=p).sample_demonstrations(500, seed=0)[2].mean() == p


def test_answer_only_task_fits_a_short_response():
    task = MultiplicationTask(digits=3, p_long=0.0, max_response_len=7 + 1)
    tokens, mask, is_long = task.sample_demonstrations(50, seed=0)
    assert not is_long.any() and mask.sum(axis=1).tolist() == [8] * 50
    check_task(task)


# ------------------------------------------------------------------------------------------------------ settings
def test_check_task_registry_and_round_trip():
    task = make_task("multiplication", digits=3, p_long=0.25)
    assert task == MultiplicationTask(digits=3, p_long=0.25) and task.to_dict()["name"] == "multiplication"
    for t in (task, MultiplicationTask(digits=2, digits_b=3, reward="cot", p_long=0.0, max_response_len=40),
              MultiplicationTask(digits=9, digits_b=1), MultiplicationTask(digits=1)):
        assert check_task(t) is t
        assert task_from_dict(t.to_dict()) == t
    assert MultiplicationTask(digits=4).replace(digits_b=2).operand_digits == (4, 2)


@pytest.mark.parametrize("settings,error,words", [
    ({"digits": 0}, ValueError, ["digits", "0"]),
    ({"digits": 10}, ValueError, ["digits", "10"]),
    ({"digits": 2.5}, TypeError, ["digits", "2.5"]),
    ({"digits": True}, TypeError, ["digits", "True"]),
    ({"digits": "3"}, TypeError, ["digits", "'3'"]),
    ({"digits_b": 0}, ValueError, ["digits_b", "0"]),
    ({"digits_b": 10}, ValueError, ["digits_b", "10"]),
    ({"p_long": 1.5}, ValueError, ["p_long", "1.5"]),
    ({"p_long": float("nan")}, ValueError, ["p_long", "nan"]),
    ({"reward": "x"}, ValueError, ["reward", "'x'"]),
    ({"max_response_len": 0}, ValueError, ["max_response_len", "0"]),
    ({"max_response_len": 31}, ValueError, ["max_response_len 31", "at least 32", "3 x 3"]),
    ({"digits": 4, "max_response_len": 31}, ValueError, ["max_response_len 31", "at least 56", "4 x 4"]),
    ({"p_long": 0.0, "max_response_len": 7}, ValueError, ["max_response_len 7", "at least 8", "short form"]),
])
def test_bad_settings(settings, error, words):
    with pytest.raises(error) as info:
        MultiplicationTask(**settings)
    for word in words:
        assert word in str(info.value), (word, str(info.value))
    if not any(isinstance(v, float) and math.isnan(v) for v in settings.values()):  # NaN is not JSON-plain
        with pytest.raises(error):
            make_task("multiplication", **settings)


def test_bad_problems():
    task = MultiplicationTask(digits=2)
    with pytest.raises(ValueError, match="10\\^2"):
        task.short_responses(np.array([[100, 10]]))
    with pytest.raises(ValueError, match="shape"):
        task.long_responses(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="integer"):
        task.prompt_tokens(np.array([[10.0, 20.0]]))


# ------------------------------------------------------------------------------------------------------ problems
def test_sample_problems_ranges():
    for n, m in [(1, 1), (3, 2), (9, 9)]:
        task = MultiplicationTask(digits=n, digits_b=m)
        problems = task.sample_problems(20_000, np.random.default_rng(0))
        assert problems.shape == (20_000, 2) and problems.dtype == np.int64
        for col, d in ((0, n), (1, m)):
            x = problems[:, col]
            assert x.min() >= 10 ** (d - 1) and x.max() < 10**d
            assert set((x // 10 ** (d - 1)).tolist()) == set(range(1, 10))  # every leading digit, never 0
    big = MultiplicationTask(digits=9)
    top = np.array([[10**9 - 1, 10**9 - 1]])
    assert big.format_tokens(big.short_responses(top)[0]) == " ".join(["####"] + lsd((10**9 - 1) ** 2, 18))


def test_hashed_problems_and_prompt_ids():
    task = MultiplicationTask(digits=3, digits_b=2)
    blocks, episodes = np.array([0, 1, 0, 2, 1, 0]), np.array([0, 0, 0, 5, 0, 1])
    p = task.hashed_problems(123, blocks, episodes)
    assert p.shape == (6, 2) and p.dtype == np.int64
    assert np.array_equal(p[0], p[2]) and np.array_equal(p[1], p[4]) and not np.array_equal(p[0], p[5])
    assert np.array_equal(p, task.hashed_problems(123, blocks, episodes))
    assert not np.array_equal(p, task.hashed_problems(124, blocks, episodes))
    many = task.hashed_problems(5, np.arange(20_000) % 7, np.arange(20_000))
    assert many[:, 0].min() >= 100 and many[:, 0].max() < 1000 and many[:, 1].min() >= 10 and many[:, 1].max() < 100
    counts = np.bincount(many[:, 0] // 100, minlength=10)[1:]  # leading digits about uniform
    assert counts.min() > 20_000 / 9 * 0.9
    ids = task.prompt_ids(many)
    assert ids.dtype == np.int64 and np.array_equal(ids, many[:, 0] * 100 + many[:, 1])
    assert len(np.unique(ids)) == len(np.unique(many, axis=0))
    top = MultiplicationTask(digits=9).prompt_ids(np.array([[10**9 - 1, 10**9 - 1]]))
    assert int(top[0]) == (10**9 - 1) * 10**9 + 10**9 - 1


def test_extra_metrics_reads_the_first_token():
    task = MultiplicationTask()
    p_hash = torch.tensor([0.75, 0.5, 0.1])

    def agent(tokens):  # the first response token's distribution: #### with p_hash, the rest spread evenly
        B, T = tokens.shape
        probs = ((1 - p_hash) / 14)[:, None].repeat(1, 15)
        probs[:, ID["####"]] = p_hash
        return probs.log()[:, None, :].repeat(1, T, 1)

    problems, prompts = task.sample_prompts(3, np.random.default_rng(0))
    greedy = task.judge(problems, torch.zeros(3, task.max_response_len, dtype=torch.long))
    out = task.extra_metrics(agent, problems, prompts, greedy)
    assert out == {"first_token_long_probability": pytest.approx(1 - p_hash.mean().item())}


def test_python_m_prints_the_worked_example():
    out = subprocess.run([sys.executable, "-m", "parity_env.multiplication"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert "347 x 582 = 201954" in out
    assert "7 4 3 * 2 8 5 ||" in out and "ids 7 4 3 15 2 8 5 16" in out
    assert "4 9 6 0 + 0 6 7 7 2 ( 4 5 4 8 2 ) + 0 0 5 3 7 1 #### 4 5 9 1 0 2 EOS" in out
    assert out == task_module.worked_example() + "\n"
    verdict_lines = out.split("answer cot demonstrated  response\n")[1].splitlines()
    assert [line.split()[:3] for line in verdict_lines] == [["1", "1", "0"], ["1", "1", "1"], ["1", "0", "0"],
                                                            ["0", "0", "0"], ["1", "0", "0"], ["0", "0", "0"],
                                                            ["0", "0", "0"]]
