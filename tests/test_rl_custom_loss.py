"""Any TorchRL loss through finetune: the classic losses read the episode tensordict with their default keys."""

import pytest
import torch
from torchrl.objectives import A2CLoss, ClipPPOLoss, ReinforceLoss

from agents import make_agent
from agents.rl import FinetuneConfig, finetune, prompt_value_operator, sequence_actor
from agents.run.checkpoint import load_checkpoint, save_checkpoint
from parity_env import Task, make_task

TASK = Task(d=6, p_long=0.3)
TASKS = {"parity": TASK, "multiplication": make_task("multiplication", digits=1, p_long=0.3)}
CFG = dict(steps=4, batch_size=32, eval_every=2, eval_n=64, final_eval_n=64)


def tiny(task=TASK):
    torch.manual_seed(0)
    return make_agent("gpt", task, d_model=32, n_head=2)


def mean_baseline(episodes):
    episodes["advantage"] = episodes["reward"] - episodes["reward"].mean()  # (B, 1)
    return episodes


@pytest.mark.parametrize("task_name", list(TASKS))
@pytest.mark.parametrize("kind", ["ClipPPOLoss", "A2CLoss", "ReinforceLoss"])
def test_classic_losses_train_with_their_default_keys(kind, task_name):
    task = TASKS[task_name]
    agent = tiny(task)
    before = [p.detach().clone() for p in agent.parameters()]
    actor = sequence_actor(agent, task)  # each response is one action: log-prob (B,), behaviour "action_log_prob"
    critic, prepare = prompt_value_operator(task), None
    if kind == "ClipPPOLoss":
        loss, prepare = ClipPPOLoss(actor, None), mean_baseline  # critic-free: the advantage comes from prepare
    elif kind == "A2CLoss":
        loss = A2CLoss(actor, critic, entropy_bonus=False)
    else:
        loss = ReinforceLoss(actor, critic)
    assert loss.tensor_keys.sample_log_prob == "action_log_prob"  # nothing was set: TorchRL's default key
    cfg = FinetuneConfig(**CFG, epochs=2, minibatch_size=16)
    result = finetune(agent, cfg, loss_module=loss, prepare=prepare, task=task, progress=False)
    assert len(result.log) == 4 and all(e["loss"] is not None for e in result.log)
    assert max(float((a.detach() - b).abs().max()) for a, b in zip(agent.parameters(), before)) > 0  # trained
    if kind != "ClipPPOLoss":
        weights = critic.module.mlp[2].weight
        assert weights.grad is not None and float(weights.grad.abs().sum()) > 0  # the value head learned too


def test_custom_loss_runs_are_reproducible_and_resume_exactly(tmp_path):
    def run(out, steps, resume=False):
        ckpt = load_checkpoint(tmp_path / "pre")
        with torch.random.fork_rng():  # the value head is the user's: its initialisation is seeded here
            torch.manual_seed(0)
            critic = prompt_value_operator(TASK)
        loss = A2CLoss(sequence_actor(ckpt.agent, TASK), critic, entropy_bonus=False)
        cfg = FinetuneConfig(**{**CFG, "steps": steps}, epochs=2, minibatch_size=8, checkpoint_every=2,
                             out=str(tmp_path / out), resume=resume)
        return finetune(ckpt.agent, cfg, loss_module=loss, task=ckpt.task, progress=False)

    with torch.random.fork_rng():
        save_checkpoint(tmp_path / "pre", tiny(), TASK)
    torch.manual_seed(123)  # the global RNG must not matter to the run
    whole = run("whole", 4)
    torch.manual_seed(456)
    run("split", 2)
    resumed = run("split", 4, resume=True)
    for a, b in zip(whole.agent.state_dict().values(), resumed.agent.state_dict().values()):
        assert torch.equal(a, b)
    assert [e["reward"] for e in whole.log] == [e["reward"] for e in resumed.log]  # the run's whole log
