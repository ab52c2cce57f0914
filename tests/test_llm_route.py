"""TorchRL's LLM stack as the RL stage: the response-level env (``parity_env.envs.llm_env``) keeps TorchRL's env
contract in its tokens and text modes and judges whole responses with the task's checker, and
``TransformersWrapper`` + ``LLMCollector`` + ``MCAdvantage`` + ``GRPOLoss`` fine-tune an exported agent with the
sampling policy's own log-probabilities (the agent's, to float precision).

Nothing is downloaded: the models are tiny GPTs exported in memory.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: never reach the hub

import pytest  # noqa: E402

pytest.importorskip("transformers")

import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tensordict import TensorDict, set_list_to_stack  # noqa: E402
from torchrl.envs.utils import check_env_specs  # noqa: E402
from torchrl.modules.llm.policies.common import Text, Tokens  # noqa: E402

from agents.models.generate import response_logprobs  # noqa: E402
from agents.models.registry import make_agent  # noqa: E402
from parity_env import Task, make_task  # noqa: E402
from parity_env.envs.llm_env import CoTResponseEnv, FullLogProbs  # noqa: E402

PARITY = Task(d=5, p_long=0.5)
MULTIPLICATION = make_task("multiplication", digits=2)
MODES = ("tokens", "text")


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():  # TorchRL 0.14's own deprecated calls and collector notes
        warnings.filterwarnings("ignore", message=".*size_average and reduce args will be deprecated.*")
        warnings.filterwarnings("ignore", message=".*missing transforms required by the policy.*")
        warnings.filterwarnings("ignore", message=".*inherits from WeightUpdaterBase is deprecated.*")
        with set_list_to_stack(True):
            yield


def action(env: CoTResponseEnv, responses: list[list[int]], key: str = "response") -> TensorDict:
    """The tensordict a policy would hand the env: its observation plus the responses (token ids, EOS included)."""
    td = env.reset() if env._problems is None else env._observation(env._prompts)
    td = td.to_lazystack(0)
    if env.input_mode == "tokens":
        tokens = Tokens._from_tensordict(td.empty())
        for t, p, r in zip(tokens.unbind(0), env._prompts, responses):
            setattr(t, key, torch.tensor(r) if key == "response" else torch.cat([p, torch.tensor(r, dtype=p.dtype)]))
        td.set("tokens", tokens)
    else:
        text = Text._from_tensordict(td.empty())
        words = [" ".join(env.task.token_names[t] for t in r) for r in responses]
        full = [env.prompt_text(p) + w for p, w in zip(env._prompts, words)]
        setattr(text, key, words if key == "response" else full)
        td.set("text", text)
    return td


# --------------------------------------------------------------------------------------------------- the env
@pytest.mark.parametrize("mode", MODES)
def test_env_keeps_torchrl_specs(mode):
    check_env_specs(CoTResponseEnv(PARITY, batch_size=4, group_size=2, input_mode=mode, seed=0))


@pytest.mark.parametrize("mode", MODES)
def test_reset_gives_prompts_in_groups(mode):
    env = CoTResponseEnv(MULTIPLICATION, batch_size=8, group_size=4, input_mode=mode, seed=3)
    td = env.reset()
    queries = td["query"]
    queries = queries.tolist() if hasattr(queries, "tolist") else list(queries)
    assert queries[:4] == [queries[0]] * 4 and queries[4:] == [queries[4]] * 4 and queries[0] != queries[4]
    assert queries == [MULTIPLICATION.format_tokens(p) for p in env._prompts]
    if mode == "tokens":
        assert torch.equal(td["tokens", "prompt"], env._prompts) and td["masks", "all_attention_mask"].all()
    else:
        assert list(td["text", "prompt"]) == [q + " " for q in queries]
    again = CoTResponseEnv(MULTIPLICATION, batch_size=8, group_size=4, input_mode=mode, seed=3)
    again.reset()
    assert torch.equal(again._prompts, env._prompts)  # the env's own seeded prompts


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("key", ["response", "full"])
@pytest.mark.parametrize("task", [PARITY, MULTIPLICATION], ids=["parity", "multiplication"])
def test_step_judges_whole_responses(task, key, mode):
    env = CoTResponseEnv(task, batch_size=6, input_mode=mode, seed=1)
    env.reset()
    problems, eos = env._problems, task.eos
    short, long_ = task.short_responses(problems), task.long_responses(problems)
    strip = lambda row: [int(t) for t in row if t != task.pad]  # noqa: E731
    wrong = strip(short[2])[:-1] + [0 if strip(short[2])[-1] != 0 else 1]  # another last digit
    responses = [strip(short[0]) + [eos], strip(long_[1]) + [eos], wrong + [eos], strip(short[3]),  # no EOS
                 strip(long_[4]) + [0] * task.max_response_len + [eos],  # runs past max_response_len
                 strip(short[5]) + [eos] + [1, 1]]  # tokens after EOS are ignored
    out = env.step(action(env, responses, key))["next"]
    padded = np.full((6, task.max_response_len), task.pad)
    for i, r in enumerate(responses):
        r = r[: task.max_response_len]
        padded[i, : len(r)] = r
    v = task.judge(problems, padded)
    assert out["reward"].shape == (6, 1, 1) and out["done"].all() and out["terminated"].all()
    assert out["reward"].flatten().tolist() == [float(x) for x in v.correct(task.reward)]
    assert out["reward"].flatten().tolist()[:5] == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert out["is_long"].flatten().tolist() == v.is_long.tolist()
    assert out["answer_length"].flatten().tolist() == v.answer_length.tolist()


def test_text_that_is_not_the_tasks_is_malformed():
    env = CoTResponseEnv(PARITY, batch_size=2, group_size=2, input_mode="text", seed=0)
    env.reset()
    answer = str(int(env._prompts[0, : PARITY.d].sum()) % 2)  # the parity of the prompt's bits
    td = env._observation(env._prompts).to_lazystack(0)
    text = Text._from_tensordict(td.empty())
    text.response = [f"{answer} EOS", f"{answer} 2 EOS"]  # "2" is no token name of parity
    td.set("text", text)
    assert env.step(td)["next", "reward"].flatten().tolist() == [1.0, 0.0]
    assert env.parse_text("1 0 EOS") == [1, 0, PARITY.eos] and env.parse_text("1 x") is None


def test_env_refuses_bad_settings():
    with pytest.raises(ValueError, match="group_size 3 must divide batch_size 4"):
        CoTResponseEnv(PARITY, batch_size=4, group_size=3)
    with pytest.raises(ValueError, match="input_mode"):
        CoTResponseEnv(PARITY, batch_size=4, input_mode="history")
    with pytest.raises(TypeError, match="CoTTask"):
        CoTResponseEnv("parity", batch_size=4)


# --------------------------------------------------------------------------------------------------- the route
def exported(task, tmp_path, positional: str = "rotary"):
    from agents.models.hf_export import task_tokenizer, to_hf

    torch.manual_seed(0)
    agent = make_agent("gpt", task, n_layer=1, d_model=16, n_head=2, positional=positional).eval()
    with torch.no_grad():
        for p in agent.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    to_hf(agent, task).save_pretrained(tmp_path)
    task_tokenizer(task).save_pretrained(tmp_path)
    return agent


@pytest.mark.parametrize("mode, positional", [("tokens", "rotary"), ("text", "learned")])
def test_grpo_through_torchrl_llm_stack(mode, positional, tmp_path):
    from torchrl.collectors.llm import LLMCollector
    from torchrl.data import LazyStackStorage, ReplayBuffer, SamplerWithoutReplacement
    from torchrl.envs import Compose
    from torchrl.modules.llm import TransformersWrapper
    from torchrl.objectives.llm import GRPOLoss, MCAdvantage
    from transformers import AutoModelForCausalLM, AutoTokenizer

    task, B, G = PARITY, 8, 4
    agent = exported(task, tmp_path, positional)
    model, tokenizer = AutoModelForCausalLM.from_pretrained(tmp_path).eval(), AutoTokenizer.from_pretrained(tmp_path)
    env = CoTResponseEnv(task, batch_size=B, group_size=G, input_mode=mode, seed=0)
    policy = TransformersWrapper(model, tokenizer=tokenizer, input_mode=mode, generate=True, pad_output=False,
                                 generate_kwargs={"do_sample": True, "max_new_tokens": task.max_response_len})
    scorer = TransformersWrapper(model, tokenizer=tokenizer, input_mode="tokens", generate=False,
                                 return_log_probs=True, pad_output=False)
    buffer = ReplayBuffer(storage=LazyStackStorage(B), sampler=SamplerWithoutReplacement(), batch_size=B,
                          transform=Compose(MCAdvantage(grpo_size=G), FullLogProbs(scorer)))
    collector = LLMCollector(env, policy=policy, dialog_turns_per_batch=B, total_dialog_turns=2 * B,
                             replay_buffer=buffer)
    loss_fn = GRPOLoss(scorer, entropy_bonus=False, masking_strategy="sft")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in model.parameters()]
    torch.manual_seed(0)
    steps = 0
    for _ in collector:
        batch = buffer.sample()
        # the rewards are the task's verdicts on the sampled responses
        fulls = batch.get(("tokens", "full"), as_list=True)
        responses = np.full((B, task.max_response_len), task.pad)
        for i, f in enumerate(fulls):
            r = f[task.prompt_len :].tolist()[: task.max_response_len]
            responses[i, : len(r)] = r
        queries = batch["query"]
        queries = queries.tolist() if hasattr(queries, "tolist") else list(queries)
        prompts = torch.stack([f[: task.prompt_len] for f in fulls])
        assert queries == [task.format_tokens(p) for p in prompts]
        reward = batch["next", "reward"].flatten()
        problems = np.stack([p.numpy()[: task.d] for p in prompts])  # parity's problem is its prompt bits
        assert reward.tolist() == task.judge(problems, responses).answer_correct.astype(float).tolist()
        # MCAdvantage's groups: the advantage is the reward normalised among the rollouts of one prompt
        advantage = batch["advantage"].flatten()
        for q in set(queries):
            rows = [i for i, x in enumerate(queries) if x == q]
            assert abs(advantage[rows].sum().item()) < 1e-4 and len(rows) % G == 0
        if steps == 0:  # the sampling policy's log-probabilities: the agent's own, to float precision
            lengths = [f.numel() for f in fulls]
            seqs = torch.full((B, task.seq_len), task.pad)
            mask = torch.zeros(B, task.seq_len, dtype=torch.bool)
            for i, f in enumerate(fulls):
                seqs[i, : lengths[i]] = f
                mask[i, task.prompt_len : lengths[i]] = True
            with torch.no_grad():
                ours = response_logprobs(agent, seqs, mask, prompt_len=task.prompt_len)
            theirs = batch.get(("log_probs", "full"), as_list=True)
            for i, lp in enumerate(theirs):
                torch.testing.assert_close(lp[task.prompt_len :], ours[i, task.prompt_len : lengths[i]], atol=1e-4,
                                           rtol=0)
        out = loss_fn(batch)
        if steps == 0:  # on-policy: the ratio is exactly 1
            assert out.ESS.item() == pytest.approx(1.0) and abs(out.kl_approx.item()) < 1e-6
        optimizer.zero_grad()
        out.loss_objective.backward()
        optimizer.step()
        buffer.empty()
        steps += 1
    collector.shutdown()
    assert steps == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_the_env_does_not_import_transformers():
    import subprocess
    import sys

    code = ("import sys, parity_env.envs.llm_env; "
            "assert 'transformers' not in sys.modules, 'transformers was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
