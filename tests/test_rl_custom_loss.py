"""The README example: fine-tuning with a TorchRL loss the project does not ship (A2CLoss with a value head)."""

import torch


def test_a2c_with_a_value_head(tmp_path):
    torch.set_num_threads(1)
    # --- the README example, verbatim from here (a tiny random checkpoint stands in for a pretrained one) ---
    from torchrl.objectives import A2CLoss

    from agents.checkpoint import load_checkpoint, save_checkpoint
    from agents.model import GPT, GPTConfig
    from agents.rl import FinetuneConfig, finetune, prompt_value_operator, sequence_actor

    d = 6
    save_checkpoint(tmp_path / "pre", GPT(GPTConfig(block_size=2 * d + 2, d_model=32, n_head=2)),
                    task={"d": d, "p_long": 0.3, "leap": 1, "max_response_len": d + 1})
    ckpt = load_checkpoint(tmp_path / "pre")
    actor = sequence_actor(ckpt.model, d, per_sequence=True)  # each response is one action: log-prob (B,)
    critic = prompt_value_operator(d)  # reads the prompt only: "prompt" (B, d + 1) -> "state_value" (B, 1)
    loss = A2CLoss(actor, critic, entropy_bonus=False)
    loss.make_value_estimator(gamma=1.0)  # one-step episodes: the value target is the reward
    cfg = FinetuneConfig(steps=4, batch_size=32, eval_every=2, eval_n=64, final_eval_n=64)
    result = finetune(ckpt.model, cfg, loss_module=loss, task=ckpt.task, progress=False)
    print(result.log[-1]["reward"], result.metrics["greedy_accuracy"])
    # --- end of the example ---
    before = load_checkpoint(tmp_path / "pre").model
    moved = [float((a - b).detach().abs().max()) for a, b in zip(ckpt.model.parameters(), before.parameters())]
    assert max(moved) > 0  # the transformer was trained through A2CLoss
    assert len(result.log) == 4 and "loss_critic" not in result.log[-1]
    value_weights = critic.module.mlp[2].weight
    assert value_weights.grad is not None and float(value_weights.grad.abs().sum()) > 0  # the value head learned too
