"""Agents out to Hugging Face: a checkpoint as a ``transformers`` model directory with its task's tokenizer.

    parity-cot export runs/pre --hf runs/pre-hf        # agents.jobs.export: any gpt or hf checkpoint
    model = AutoModelForCausalLM.from_pretrained("runs/pre-hf"); tokenizer = AutoTokenizer.from_pretrained(...)
    model.generate(**tokenizer(["1 0 1 1 SEP"], return_tensors="pt"))   # greedy: the agent's own answers

    model = to_hf(agent, task)                           # the transformers model of an agent (gpt or hf)
    tokenizer = task_tokenizer(task)                     # one token per name of task.token_names
    report = check_export(agent, model, task)            # logits and greedy answers against the agent's; raises
    write_export("runs/pre-hf", model, tokenizer, info)  # atomically; agents.jobs.export.export_checkpoint: all of it

The ``gpt`` agent maps exactly onto a transformers architecture: learned positions onto ``OPTForCausalLM`` (pre-LN
blocks, exact GELU, biases everywhere, LayerNorm eps 1e-5, untied head; the fused qkv split into q, k, v; position p
at OPT's row p + 2), rotary ones onto ``GPTNeoXForCausalLM`` (sequential residual, rotary on every dimension, base
10000; NeoX rotates the two halves of a head where the GPT rotates interleaved pairs, so each head's query and key rows
are permuted alike, which leaves every attention score as it was). Not GPT-2 for learned positions: transformers'
GPT-2 numbers the positions 0, 1, ... whatever the attention mask in a forward pass, so a left-padded row (TorchRL's
scoring of responses of several lengths) reads shifted positions, while OPT counts them from the mask (and TorchRL
0.14 passes the attention mask positionally, which GPT-2's forward takes as its cache since transformers 5). Rotary
positions are shift-invariant. The GPT's head scores the emitted tokens with a bias; a transformers head has no bias and
scores the whole vocabulary. The bias goes into the final LayerNorm's shift (beta' = beta + pinv(W) b: W beta' =
W beta + b, W having full row rank), and each token an agent never emits (PAD, SEP, ...) gets the head row
c / gamma: since the normalised vector sums to zero, its logit is the constant c * sum(beta' / gamma), set to 100 below
the lowest top logit seen, so the whole-vocabulary softmax is the agent's own (those tokens get probability
< e^-100). The generation config also suppresses them, and carries EOS, PAD and max_new_tokens = the task's
max_response_len. The ``hf`` agent exports its model as trained, with that generation config (it cut its logits to
the emitted tokens, ``generate`` suppresses the others; its whole-vocabulary softmax is not the agent's, which
matters to a loss that scores the whole vocabulary, e.g. TorchRL's LLM losses).

Every export is checked before anything is written: the logits of the emitted tokens against the agent's (and, for
the gpt, the whole-vocabulary log-softmax, and the logits of left-padded rows under an attention mask; reported for an
hf agent, whose architecture decides it) on demonstrations and random continuations, and greedy ``generate``
against ``agents.models.generate.generate(..., temperature=0)`` on fresh prompts; a mismatch is refused (ExportError)
rather than written. A greedy disagreement that starts where the agent's top two logits tie (within TIE) is counted
as a tie, not a failure. Agents without a Hugging Face form (``linear``, a user's agent) are refused.

The tokenizer is a ``tokenizers`` WordLevel vocabulary of the task's token names, split on whitespace (text is
``task.format_tokens``' ``"1 0 1 1 SEP"``; PAD and EOS are its special tokens), with a chat template that writes the
messages' contents and, for the generation prompt, a trailing space: a prompt's text followed by its response's
decoded text is the whole sequence's text (TorchRL's text mode concatenates them). An export directory holds
config.json, generation_config.json, model.safetensors, tokenizer.json, tokenizer_config.json, chat_template.jinja and
parity_cot.json (the task, the source checkpoint, the checks), which ``export_task`` reads.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
import torch.nn as nn

try:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        GenerationConfig,
        PreTrainedModel,
        PreTrainedTokenizerFast,
    )
except ImportError as e:  # the optional extra is missing
    raise ImportError(f"exporting to Hugging Face needs transformers: pip install 'parity-cot[hf]' ({e})") from e

from .agent import agent_name
from .generate import generate
from .gpt import GPT
from .hf import HFAgent, _no_warning, quiet_unless_watched

if TYPE_CHECKING:
    from transformers import GenerationMixin  # what the causal LMs generate with (PreTrainedModel alone does not)

EXPORT_FILE = "parity_cot.json"
EXPORT_FORMAT = 1
LOGIT_ATOL, LOGIT_RTOL = 1e-4, 1e-5  # float32 logits of one function through two implementations differ by ~1e-6
# (relative to their size): the tolerance is LOGIT_ATOL + LOGIT_RTOL * the largest |logit|; a wrong mapping is off by
# far more
TIE = 1e-4  # a greedy disagreement where the agent's top two logits are closer than this is a tie of rounding
MARGIN = 100.0  # the never-emitted tokens' constant logit, below the lowest top logit seen: probability < e^-100
_HEAD = "<output embeddings>.weight"  # the head's name, whatever the architecture calls it
CHAT_TEMPLATE = ("{% for message in messages %}{{ message['content'] }}{% if not loop.last %} {% endif %}{% endfor %}"
                 "{% if add_generation_prompt %} {% endif %}")


class ExportError(ValueError):
    """An agent that cannot be exported exactly, or an export target that would overwrite something."""


# --------------------------------------------------------------------------------------------------- tokenizer
def task_tokenizer(task) -> PreTrainedTokenizerFast:
    """A fast tokenizer whose ids are the task's token ids.

    WordLevel over ``task.token_names``, whitespace-split, EOS and PAD as its eos and pad tokens, left padding
    (generation), the chat template of the module docstring.
    """
    names = task.token_names
    bad = [n for n in names if not n or any(c.isspace() for c in n)]
    if bad or len(set(names)) != len(names):
        raise ExportError(f"task {task.name!r}: its token names must be distinct words without spaces to make a "
                          f"tokenizer; got {list(names)}")
    core = Tokenizer(models.WordLevel({name: i for i, name in enumerate(names)}, unk_token=None))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=names[task.eos], pad_token=names[task.pad],
                                        clean_up_tokenization_spaces=False, padding_side="left",
                                        model_max_length=task.seq_len)
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def generation_config(task, vocab_size: int) -> GenerationConfig:
    """The exported model's generation config: greedy by default, EOS and PAD of the task, a response's length at most.

    Every id an agent never emits is suppressed (``generate`` picks only 0 .. n_actions - 1, as the agent does).
    """
    return GenerationConfig(bos_token_id=task.eos, eos_token_id=task.eos, pad_token_id=task.pad,
                            max_new_tokens=task.max_response_len, do_sample=False,
                            suppress_tokens=list(range(task.n_actions, vocab_size)))


# --------------------------------------------------------------------------------------------------- models
def to_hf(agent: nn.Module, task) -> PreTrainedModel:
    """The transformers causal LM computing what ``agent`` computes (eval mode, float32, on the CPU).

    It has the generation config of ``generation_config``; raises ExportError for an agent without a Hugging Face
    form.
    """
    if isinstance(agent, GPT):
        model = gpt_to_hf(agent, task)
    elif isinstance(agent, HFAgent):
        model = hf_agent_model(agent, task)
    else:
        raise ExportError(f"{agent_name(agent)} has no Hugging Face form: only the gpt and hf agents can be exported")
    return model


def hf_agent_model(agent: HFAgent, task) -> PreTrainedModel:
    """A float32 CPU copy of the hf agent's transformers model, with the task's generation config."""
    import copy

    model = copy.deepcopy(agent.model)  # then moved and cast in place (Module.to), in eval mode
    model.to("cpu", torch.float32)  # type: ignore[arg-type]  # to() is wraps(Module.to): mypy reads "cpu" as self
    model.eval()
    vocab = model.config.get_text_config(decoder=True).vocab_size
    model.generation_config = generation_config(task, vocab)
    return model


def gpt_to_hf(gpt: GPT, task) -> PreTrainedModel:
    """The GPT as ``OPTForCausalLM`` (learned positions) or ``GPTNeoXForCausalLM`` (rotary).

    Weights are mapped exactly (module docstring); raises ExportError where the head's bias cannot be folded
    exactly.
    """
    cfg = gpt.cfg
    if (cfg.vocab_size, cfg.n_actions) != (task.vocab_size, task.n_actions):
        raise ExportError(f"the gpt agent's vocabulary ({cfg.vocab_size} tokens, {cfg.n_actions} emitted) is not the "
                          f"task's ({task.vocab_size}, {task.n_actions})")
    special = {"vocab_size": cfg.vocab_size, "bos_token_id": task.eos, "eos_token_id": task.eos,
               "pad_token_id": task.pad, "tie_word_embeddings": False}
    sd = {k: v.detach().to("cpu", torch.float64) for k, v in gpt.state_dict().items()}
    ln_bias, head = _fold_head(sd, gpt, task)
    if cfg.positional == "learned":
        config = AutoConfig.for_model(
            "opt", hidden_size=cfg.d_model, num_hidden_layers=cfg.n_layer, num_attention_heads=cfg.n_head,
            ffn_dim=4 * cfg.d_model, word_embed_proj_dim=cfg.d_model, max_position_embeddings=cfg.block_size,
            activation_function="gelu", do_layer_norm_before=True, enable_bias=True,
            layer_norm_elementwise_affine=True, dropout=0.0, attention_dropout=0.0, layerdrop=0.0, **special)
        state = _opt_state(sd, cfg, ln_bias, head)
    else:
        config = AutoConfig.for_model(
            "gpt_neox", hidden_size=cfg.d_model, num_hidden_layers=cfg.n_layer, num_attention_heads=cfg.n_head,
            intermediate_size=4 * cfg.d_model, hidden_act="gelu", max_position_embeddings=cfg.block_size,
            layer_norm_eps=1e-5, use_parallel_residual=False, rotary_pct=1.0, rotary_emb_base=10000.0,
            attention_bias=True, attention_dropout=0.0, hidden_dropout=0.0, classifier_dropout=0.0, **special)
        state = _neox_state(sd, cfg, ln_bias, head)
    with torch.random.fork_rng(devices=[]):  # its random weights are all replaced: leave the global RNG alone
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="sdpa")
    head_name = next(name for name, module in model.named_modules() if module is model.get_output_embeddings())
    state[f"{head_name}.weight"] = state.pop(_HEAD)  # GPT-NeoX's embed_out is lm_head since transformers 5
    expected = {k for k in model.state_dict() if not k.endswith("rotary_emb.inv_freq")}
    if set(state) != expected:
        raise ExportError(f"internal: the mapped weights {sorted(set(state) ^ expected)[:4]} do not match "
                          f"{type(model).__name__}'s (transformers changed its names?)")
    model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=False)
    model.generation_config = generation_config(task, cfg.vocab_size)
    return model.eval()


def _fold_head(sd: dict, gpt: GPT, task) -> tuple[torch.Tensor, torch.Tensor]:
    """The GPT's head folded into a bias-free one.

    Returns (the final LayerNorm's new shift, the (vocab, d_model) bias-free head) computing the GPT's head exactly on
    the emitted tokens and a constant far below them on the others (float64).
    """
    W, b = sd["head.weight"], sd["head.bias"]  # (A, C), (A,)
    gamma, beta = sd["ln_f.weight"], sd["ln_f.bias"]  # (C,)
    A, C = W.shape
    if torch.linalg.matrix_rank(W).item() < A:
        raise ExportError(f"the gpt's head ({A} x {C}) does not have full row rank: its bias cannot be folded into the "
                          "final LayerNorm exactly, so there is no exact export")
    shift = beta + torch.linalg.pinv(W) @ b  # W shift = W beta + b
    residual = (W @ (shift - beta) - b).abs().max().item()
    if residual > 1e-6 * max(1.0, b.abs().max().item()):
        raise ExportError(f"the gpt's head bias folds into the final LayerNorm only up to {residual:.1e}: no exact "
                          "export")
    if gamma.abs().min().item() < 1e-6:
        raise ExportError("the gpt's final LayerNorm has a zero scale: the never-emitted tokens cannot get a constant "
                          "logit, so there is no exact export")
    inv = 1.0 / gamma
    s = (shift * inv).sum().item()
    if abs(s) < 1.0:  # add a null-space component of W (no emitted logit changes) so the constant needs a small c
        null = inv - torch.linalg.pinv(W) @ (W @ inv)  # inv's part orthogonal to W's rows
        norm = (null * inv).sum().item()
        if norm < 1e-6:
            raise ExportError("the gpt's head rows span 1 / gamma: the never-emitted tokens cannot get a constant "
                              "logit, so there is no exact export")
        shift = shift + ((1.0 if s >= 0 else -1.0) - s) / norm * null
        s = (shift * inv).sum().item()
    low = _lowest_top_logit(gpt, task)
    c = (low - MARGIN) / s  # row c / gamma: logit c * sum(n) + c * s = low - MARGIN
    head = torch.zeros(gpt.cfg.vocab_size, C, dtype=torch.float64)
    head[:A] = W
    head[A:] = c * inv
    return shift, head


@torch.no_grad()
def _lowest_top_logit(gpt: GPT, task) -> float:
    """The lowest top emitted logit of the GPT over its checks' sequences (demonstrations and random tokens)."""
    was = gpt.training
    gpt.eval()
    try:
        logits = gpt(_check_sequences(task, 256, seed=1).to(next(gpt.parameters()).device)).double()
    finally:
        gpt.train(was)
    return math.floor(logits.max(-1).values.min().item())


def _opt_state(sd: dict, cfg, ln_bias: torch.Tensor, head: torch.Tensor) -> dict[str, torch.Tensor]:
    C = cfg.d_model
    positions = torch.zeros(cfg.block_size + 2, C, dtype=sd["pos_emb.weight"].dtype)
    positions[2:] = sd["pos_emb.weight"]  # OPT looks position p up at row p + 2 (rows 0, 1: padding's positions)
    out = {"model.decoder.embed_tokens.weight": sd["tok_emb.weight"], "model.decoder.embed_positions.weight": positions,
           "model.decoder.final_layer_norm.weight": sd["ln_f.weight"], "model.decoder.final_layer_norm.bias": ln_bias,
           _HEAD: head}
    for i in range(cfg.n_layer):
        ours, theirs = f"blocks.{i}.", f"model.decoder.layers.{i}."
        for p in ("weight", "bias"):
            for name, part in zip(("q_proj", "k_proj", "v_proj"), sd[f"{ours}attn.qkv.{p}"].split(C)):
                out[f"{theirs}self_attn.{name}.{p}"] = part
            for a, b in (("attn.proj", "self_attn.out_proj"), ("ln1", "self_attn_layer_norm"), ("mlp.0", "fc1"),
                         ("mlp.2", "fc2"), ("ln2", "final_layer_norm")):
                out[f"{theirs}{b}.{p}"] = sd[f"{ours}{a}.{p}"]
    return out


def _neox_state(sd: dict, cfg, ln_bias: torch.Tensor, head: torch.Tensor) -> dict[str, torch.Tensor]:
    C, H = cfg.d_model, cfg.n_head
    hs = C // H
    halves = torch.cat([torch.arange(0, hs, 2), torch.arange(1, hs, 2)])  # NeoX position j <- our dimension halves[j]
    out = {"gpt_neox.embed_in.weight": sd["tok_emb.weight"], "gpt_neox.final_layer_norm.weight": sd["ln_f.weight"],
           "gpt_neox.final_layer_norm.bias": ln_bias, _HEAD: head}
    for i in range(cfg.n_layer):
        ours, theirs = f"blocks.{i}.", f"gpt_neox.layers.{i}."
        for a, b in (("ln1", "input_layernorm"), ("ln2", "post_attention_layernorm")):
            for p in ("weight", "bias"):
                out[f"{theirs}{b}.{p}"] = sd[f"{ours}{a}.{p}"]
        for p in ("weight", "bias"):
            q, k, v = (t.reshape(H, hs, *t.shape[1:]) for t in sd[f"{ours}attn.qkv.{p}"].split(C))  # (H, hs, ...)
            fused = torch.stack([q[:, halves], k[:, halves], v], dim=1)  # (H, 3, hs, ...): NeoX's per-head [q, k, v]
            out[f"{theirs}attention.query_key_value.{p}"] = fused.reshape(3 * C, *fused.shape[3:])
            out[f"{theirs}attention.dense.{p}"] = sd[f"{ours}attn.proj.{p}"]
            out[f"{theirs}mlp.dense_h_to_4h.{p}"] = sd[f"{ours}mlp.0.{p}"]
            out[f"{theirs}mlp.dense_4h_to_h.{p}"] = sd[f"{ours}mlp.2.{p}"]
    return out


# --------------------------------------------------------------------------------------------------- checks
def _check_sequences(task, n: int, seed: int) -> torch.Tensor:
    """``n`` sequences (n, seq_len) to compare an export on.

    Half demonstrations of the mixture (long and short), half fresh prompts with uniformly random emitted tokens.
    """
    demos = torch.from_numpy(task.sample_demonstrations(n - n // 2, seed=seed)[0])
    rng = np.random.default_rng(seed)
    _, prompts = task.sample_prompts(n // 2, rng)
    responses = torch.from_numpy(rng.integers(0, task.n_actions, size=(n // 2, task.max_response_len)))
    return torch.cat([demos, torch.cat([prompts, responses], dim=1)])


@torch.no_grad()
def check_export(agent: nn.Module, model: PreTrainedModel, task, n: int = 256, seed: int = 0) -> dict:
    """Compare ``model`` (a transformers causal LM) with ``agent``.

    Logits on ``n`` sequences and greedy answers to ``n`` fresh prompts. Returns max_logit_diff (emitted tokens),
    max_logprob_diff (the whole-vocabulary log-softmax against the agent's; None for an hf agent, whose other tokens
    were never trained), max_left_padded_logit_diff (rows left-padded under an attention mask), tolerance,
    greedy_agree, greedy_ties and n; raises ExportError when a difference exceeds the tolerance,
    LOGIT_ATOL + LOGIT_RTOL * the largest |logit| (the left-padded one: for the gpt only, the hf agent's architecture
    decides it), or a greedy answer differs without a tie.
    """
    device = next(agent.parameters()).device
    was = agent.training
    agent.eval()
    model.eval()
    warning = "warn_if_padding_and_no_attention_mask"
    for module in model.modules():  # finished rows feed PAD to generate: no "pass an attention_mask" warning
        if hasattr(module, warning):
            setattr(module, warning, _no_warning)
    try:
        tokens = _check_sequences(task, n, seed)
        ours = agent(tokens.to(device)).double().cpu()  # (n, L, A)
        theirs = model(input_ids=tokens, attention_mask=torch.ones_like(tokens), use_cache=False).logits.double()
        A = task.n_actions
        logit_diff = (theirs[..., :A] - ours).abs().max().item()
        padded_diff = _left_padded_diff(model, tokens, ours, task, seed)
        logprob_diff = None
        if not isinstance(agent, HFAgent):
            full = torch.log_softmax(theirs, -1)
            logprob_diff = (full[..., :A] - torch.log_softmax(ours, -1)).abs().max().item()
        _, prompts = task.sample_prompts(n, np.random.default_rng(seed + 1))
        mine = generate(agent, task, prompts.to(device), temperature=0.0).tokens.cpu()  # (n, R)
        hf = cast("GenerationMixin", model).generate(  # a causal LM: its class mixes in GenerationMixin
            input_ids=prompts, attention_mask=torch.ones_like(prompts), do_sample=False,
            max_new_tokens=task.max_response_len)[:, task.prompt_len :]
        got = torch.full_like(mine, task.pad)
        got[:, : hf.shape[1]] = hf
        same = (got == mine).all(1)
        ties = 0
        for row in torch.nonzero(~same).squeeze(1).tolist():
            t = int((got[row] != mine[row]).nonzero()[0])  # the first differing response position
            context = torch.cat([prompts[row], mine[row, :t]])[None].to(device)
            top2 = agent(context)[0, -1].double().topk(2).values
            if (top2[0] - top2[1]).item() >= TIE:
                raise ExportError(f"the exported model answers prompt {task.format_tokens(prompts[row])!r} with "
                                  f"{task.format_tokens(got[row])!r}, the agent with "
                                  f"{task.format_tokens(mine[row])!r}: not an exact export")
            ties += 1
    finally:
        agent.train(was)
    worst = max(logit_diff, logprob_diff or 0.0, 0.0 if isinstance(agent, HFAgent) else padded_diff)
    tolerance = LOGIT_ATOL + LOGIT_RTOL * ours.abs().max().item()
    if not worst <= tolerance:
        raise ExportError(f"the exported model's logits differ from the agent's by {worst:.2e} (> {tolerance:.1e}): "
                          "not an exact export")
    return {"n": n, "max_logit_diff": logit_diff, "max_logprob_diff": logprob_diff,
            "max_left_padded_logit_diff": padded_diff, "tolerance": tolerance, "greedy_agree": int(same.sum()),
            "greedy_ties": ties}


def _left_padded_diff(model: PreTrainedModel, tokens: torch.Tensor, ours: torch.Tensor, task, seed: int) -> float:
    """Max |logit difference| on the emitted tokens between ``model`` on left-padded rows and the agent.

    ``model`` reads ``tokens`` (n, L) cut to random lengths and left-padded with PAD under an attention mask (how
    batched generation and TorchRL's scoring feed sequences of several lengths); the agent's logits ``ours``
    (n, L, A) are of the same positions.
    """
    n, L = tokens.shape
    lengths = torch.from_numpy(np.random.default_rng(seed + 2).integers(task.prompt_len, L + 1, size=n))  # (n,)
    start = L - lengths  # (n,) where each row's tokens begin
    j = torch.arange(L)
    source = (j[None, :] - start[:, None]).clamp(min=0)  # (n, L) padded position -> the row's own position
    mask = j[None, :] >= start[:, None]  # (n, L)
    padded = torch.where(mask, tokens.gather(1, source), torch.full_like(tokens, task.pad))
    logits = model(input_ids=padded, attention_mask=mask.long(), use_cache=False).logits.double()
    A = task.n_actions
    mine = ours.gather(1, source[..., None].expand(-1, -1, A))  # (n, L, A) the agent's logits at those positions
    return (logits[..., :A] - mine).abs()[mask].max().item()


# --------------------------------------------------------------------------------------------------- directories
def check_target(out: str | os.PathLike, overwrite: bool = False, source: str | os.PathLike | None = None) -> Path:
    """``out`` as the export's directory, or an ExportError.

    Refused (ExportError) when it is a file, a non-empty directory without ``overwrite``, the ``source``
    checkpoint's directory, one holding it (an overwrite would delete it) or one inside it (a save of the checkpoint
    would delete the export).
    """
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise ExportError(f"--hf {out} is a file, not a directory")
    if source is not None:
        src, dst = Path(source).resolve(), out.resolve()
        if dst == src or dst in src.parents or src in dst.parents:
            raise ExportError(f"--hf {out} holds the checkpoint being exported, or is inside it: choose another "
                              "directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ExportError(f"--hf {out} exists and is not empty: choose a new directory, or give --overwrite to "
                          "replace it")
    return out


def write_export(out: str | os.PathLike, model: PreTrainedModel, tokenizer, info: dict,
                 overwrite: bool = False) -> Path:
    """Write the model, the tokenizer and ``info`` (parity_cot.json) to ``out``, atomically.

    A sibling temporary directory is renamed into place (an existing ``out`` is replaced only with ``overwrite``,
    once the new one is complete).
    """
    out = check_target(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        with quiet_unless_watched():
            model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / EXPORT_FILE).write_text(json.dumps(info, indent=1))
        umask = os.umask(0o022)
        os.umask(umask)
        for f in tmp.iterdir():  # safetensors writes its files owner-only: readable like the others, for other tools
            os.chmod(f, 0o666 & ~umask)
        if out.exists():
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(out, old)
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def export_task(directory: str | os.PathLike):
    """The task an export directory was written for (its parity_cot.json)."""
    from parity_env.registry import task_from_dict

    path = Path(directory) / EXPORT_FILE
    if not path.is_file():
        raise ExportError(f"{directory} has no {EXPORT_FILE}: not a directory written by parity-cot export")
    return task_from_dict(json.loads(path.read_text())["task"])


def describe(info: dict) -> dict[str, Any]:
    """The one-line summary of an export's checks."""
    c = info["checks"]
    return {"architecture": info["architecture"], "max_logit_diff": c["max_logit_diff"],
            "max_left_padded_logit_diff": c["max_left_padded_logit_diff"],
            "max_logprob_diff": c["max_logprob_diff"], "greedy": f"{c['greedy_agree']}/{c['n']}"}
