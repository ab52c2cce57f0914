"""The ``hf`` agent: any Hugging Face ``transformers`` causal language model as a ParityCoT agent (the ``[hf]`` extra).

A fresh model of any causal-LM architecture transformers knows, with random weights, built from its config; or a
model saved with ``save_pretrained`` in a local directory. The model reads the task's tokens as its vocabulary
(``task.vocab_size`` = 5) and its logits are cut to the tokens an agent emits (``task.n_actions``: 0, 1, EOS), the same
cut in ``forward`` and ``decode``, so sampling and the losses see one distribution.

    parity-cot pretrain --agent hf --agent-config '{"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
                                                    "num_attention_heads": 4, "intermediate_size": 128}'
    parity-cot pretrain --agent hf --agent-config '{"path": "runs/my-llama"}'  # a directory written by save_pretrained
    parity-cot export runs/pre --hf runs/pre-hf      # any hf (or gpt) checkpoint back out as such a directory

    agent = make_agent("hf", task, model_type="gpt2", n_embd=64, n_layer=2, n_head=4)   # agents.models.registry
    agent = make_agent("hf", task, path="runs/my-llama")
    logits = agent(tokens)                           # (B, T, n_actions)
    logits = agent(tokens, logits_from=task.prompt_len)   # (B, T - prompt_len, n_actions): skips the prompt's logits
    state = agent.new_state(B)                       # incremental decoding with the library's own DynamicCache
    logits, state = agent.decode(prompts, state)     # (B, n_actions) of the next token
    state = agent.select_state(state, rows)          # keep rows (in place)
    agent.model.save_pretrained("runs/my-llama")     # the wrapped transformers model, as usual

A model read from ``path`` is recorded in checkpoints by its whole config (``{"hf_config": {...}}``, what
``agents.models.registry.agent_spec`` returns), not by the path: a checkpoint holds its config and every weight, so it
loads after the directory has moved or gone. (Checkpoints written before recorded the path, and load while it
exists.) ``hf_config`` is also a key of its own: the model of a saved config (a ``config.json``'s contents), with
random weights.

``model_type`` takes every other key as a field of that architecture's config (``AutoConfig.for_model``), with
vocab_size = task.vocab_size, eos_token_id = task.eos, pad_token_id = task.pad and bos_token_id = task.eos unless
given (the architectures' default BOS ids would point at a prompt bit), and dropout 0 (the data are fresh every
batch; dropout would also make the sampled and the trained log-probabilities differ). Misspelt keys, which a
transformers config would silently keep, are refused. The caller seeds the weights through torch's global generator.
The weights are float32 (use autocast for lower precision). Attention is PyTorch's ``sdpa`` (eager where an
architecture lacks it; ``attn_implementation`` overrides): on CPU in float32 at these sizes it is as fast as eager or
faster.

For speed, with the bits unchanged: a transformers Llama with SDPA attention runs its own modules directly in the order
its ``LlamaModel.forward`` runs them, without that method's per-call wrappers (``_DirectPath``: checked bit for bit
against the library's forward when the agent is built, else the library's forward runs); decoding without gradients
runs in inference mode; and a prefill whose prompts repeat (GRPO's groups) reads each distinct prompt once.

Nothing is ever downloaded: a model is built from its config or read from a local directory
(``local_files_only=True``). The core package never imports transformers; only this module does. transformers'
progress bars (its "Loading weights" bar) show only where someone watches them: not when stderr is not a terminal,
and not under ``HF_HUB_DISABLE_PROGRESS_BARS=1`` (what ``--no-progress`` should set) or ``set_progress(False)``.

Run ``python -m agents.models.hf`` to build a tiny llama for Task(d=8) and check decoding against the full pass.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

try:
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, DynamicCache, PreTrainedConfig, PreTrainedModel
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    from transformers.utils import logging as hf_logging
except ImportError as e:  # the optional extra is missing (or too old to have these names)
    raise ImportError(f"the hf agent needs transformers: pip install 'parity-cot[hf]' ({e})") from e

from .agent import as_long_tokens, check_logits_from

ATTENTION = ("sdpa", "eager")  # tried in this order
EXAMPLE = ('{"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, '
           '"intermediate_size": 128}')
_DROPOUT_SUFFIXES = ("dropout", "pdrop", "dropout_prob", "dropout_rate")
_UNSAVED_KEYS = ("_name_or_path", "transformers_version", "dtype", "torch_dtype")  # provenance, not the model
_PROGRESS: bool | None = None  # set_progress: None follows the terminal and HF_HUB_DISABLE_PROGRESS_BARS


class HFAgent(nn.Module):
    """A transformers causal LM (``self.model``) whose logits are cut to the task's ``n_actions`` emit-able tokens."""

    def __init__(self, model: PreTrainedModel, task):
        super().__init__()
        self.model = model
        self.n_actions = task.n_actions
        params = inspect.signature(model.forward).parameters
        # transformers 5.24 renamed the cache argument past_key_values -> cache (the old name warns)
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._keeps_logits = "logits_to_keep" in params
        # Rows of a batch are never padded on the left, and a PAD only follows an EOS, so causal attention without
        # a mask is right: silence the one-time "pass an attention_mask" warning GPT-2 and others give on PAD ids.
        warning = "warn_if_padding_and_no_attention_mask"
        for module in model.modules():  # GPT-2 warns from its inner GPT2Model
            if hasattr(module, warning):
                setattr(module, warning, _no_warning)
        self._direct = _build_direct_path(model)

    def num_parameters(self) -> int:
        """The number of parameters (every weight, embeddings included)."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, tokens: torch.Tensor, logits_from: int = 0) -> torch.Tensor:
        """Float logits (B, T - logits_from, n_actions) of tokens (B, T) of any integer dtype.

        ``logits_from`` (0 <= logits_from < T, or negative from the end) skips the logits of the earlier positions.
        """
        tokens = as_long_tokens(tokens)
        T = tokens.shape[1]
        keep = T - check_logits_from(logits_from, T)  # the last `keep` positions (T: all)
        direct = self._direct_path()
        if direct is not None:
            hidden = direct.norm(direct.hidden(tokens, None, 0))  # every position, then the kept ones: as the library
            return self.model.lm_head(hidden[:, T - keep :])[..., : self.n_actions].float()
        if self._keeps_logits:
            logits = self.model(input_ids=tokens, use_cache=False, logits_to_keep=keep).logits
        else:
            logits = self.model(input_ids=tokens, use_cache=False).logits[:, T - keep :]
        return logits[..., : self.n_actions].float()

    # the agent contract's incremental decoding (agents.models.agent): the state is transformers' own DynamicCache
    def new_state(self, batch_size: int) -> DynamicCache:
        """An empty key/value cache (it grows to the batch of the first ``decode``)."""
        try:
            return DynamicCache(config=self.model.config)  # sliding-window layers where the architecture has them
        except TypeError:  # a transformers without the config argument
            return DynamicCache()

    def decode(self, tokens: torch.Tensor, state: DynamicCache) -> tuple[torch.Tensor, DynamicCache]:
        """Logits (b, n_actions) of the token after ``tokens`` (b, t), which continue the rows of ``state``."""
        tokens = as_long_tokens(tokens)
        past = state.get_seq_length()
        if past == 0:
            distinct = _distinct_rows(tokens)
            if distinct is not None:  # e.g. GRPO's groups: each distinct prompt is read once, its cache copied
                unique, inverse = distinct
                logits, state = self._decode(unique, state, past)
                state.batch_select_indices(inverse)
                return logits.index_select(0, inverse), state
        return self._decode(tokens, state, past)

    def _decode(self, tokens: torch.Tensor, state: DynamicCache, past: int) -> tuple[torch.Tensor, DynamicCache]:
        direct = self._direct_path()
        if direct is not None and (past == 0 or tokens.shape[1] == 1):  # where the library's mask is None
            # without gradients (generation, collection) in inference mode: the same kernels, less work per op; the
            # cache keeps inference tensors (it only comes back here), the logits are copied out as ordinary ones
            with torch.inference_mode(not torch.is_grad_enabled()):
                hidden = direct.norm(direct.hidden(tokens, state, past))[:, -1:]  # (b, 1, h): as the library
                logits = self.model.lm_head(hidden)[:, -1, : self.n_actions]
            return (logits.clone() if logits.is_inference() else logits).float(), state
        kwargs = {self._cache_arg: state, "use_cache": True}
        if self._keeps_logits:
            kwargs["logits_to_keep"] = 1
        out = self.model(input_ids=tokens, **kwargs)
        cache = out["cache"] if "cache" in out else out["past_key_values"]  # the same object, updated in place
        return out.logits[:, -1, : self.n_actions].float(), cache

    def select_state(self, state: DynamicCache, rows: torch.Tensor) -> DynamicCache:
        """Keep rows ``rows`` (b',) int64 of the cache, in that order (in place)."""
        with torch.inference_mode(self._direct is not None and not torch.is_grad_enabled()):  # as decode, when it is
            state.batch_select_indices(rows)
        return state

    def _direct_path(self) -> _DirectPath | None:
        """The direct path while it still stands for the model (the same model, no hooks or replaced forward)."""
        direct = self._direct
        return direct if direct is not None and direct.model is self.model and direct.usable() else None


def _no_warning(*args: Any, **kwargs: Any) -> None:
    pass


_ROW_KEYS: dict[tuple[int, torch.device], torch.Tensor] = {}  # (T, device) -> (T,) int64 weights of row keys


def _distinct_rows(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(distinct rows (u, T), inverse (B,)) of ``tokens`` (B, T) when at most half its rows are distinct; else None.

    A prefill of repeated prompts (GRPO's groups: each prompt group_size times) then reads each prompt once. Each row
    is computed on its own (causal attention within the row, row-wise products), so the cache and logits copied from
    the distinct rows are those the whole batch would have had: bit for bit where a matrix product gives a row the
    same result in any batch, as MKL does on the CPU for all but tiny products (fewer than 16 positions are left
    alone).
    Rows are grouped by a key (a weighted sum: equal rows have equal keys), then checked to equal their group's first
    row, so a key shared by different rows only costs the saving.
    """
    B, T = tokens.shape
    if B < 4:
        return None
    weights = _ROW_KEYS.get((T, tokens.device))
    if weights is None:
        generator = torch.Generator().manual_seed(T)  # fixed and private: the global generator is not touched
        weights = torch.randint(1, 2**31, (T,), generator=generator).to(tokens.device)
        _ROW_KEYS[(T, tokens.device)] = weights
    keys, inverse = torch.unique((tokens * weights).sum(1), return_inverse=True)  # (u,), (B,)
    u = keys.numel()
    if 2 * u > B or u * T < 16:
        return None
    first = torch.full((u,), B, dtype=torch.long, device=tokens.device)
    first.scatter_reduce_(0, inverse, torch.arange(B, device=tokens.device), "amin")  # (u,) each key's first row
    distinct = tokens.index_select(0, first)  # (u, T)
    if not torch.equal(distinct.index_select(0, inverse), tokens):  # two different rows share a key
        return None
    return distinct, inverse


class _DirectPath:
    """A Llama's own modules called in the order ``LlamaModel.forward`` calls them, without its wrappers.

    The same embedding, rotary embedding, decoder layers, final norm and head, given the same inputs: position ids
    ``past .. past + T - 1`` and no attention mask, which is what the library passes them too where this path is used
    (SDPA attention, no padding, an empty cache or one new token: its ``create_causal_mask`` returns None and SDPA
    applies causality itself). So it is the same computation, bit for bit, forward and backward; what it skips is the
    per-call bookkeeping around it (keyword merging and deprecation shims, output capturing, the mask function, the
    output dataclasses), which matters for generation's many small steps. It is used only after reproducing the
    library's logits exactly on a probe (full pass and cached decoding), and only while nobody hooks or replaces the
    model's or the base model's forward; otherwise the library's forward runs.
    """

    def __init__(self, model: PreTrainedModel):
        self.model = model
        self.base = model.model
        self.layers = list(self.base.layers[: self.base.config.num_hidden_layers])
        self.norm = self.base.norm
        # one-token steps' position ids and rotary embedding, as the rotary module returned them, by position (the
        # default rope is a function of the position alone; kept while its inv_freq is the same, unmodified tensor)
        self._steps: dict[tuple, tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]] = {}
        self._inv_freq: tuple[int, int] | None = None

    def usable(self) -> bool:
        """No forward hooks or replaced forward on the model or its base model (this path would skip them)."""
        return not any(m._forward_hooks or m._forward_pre_hooks or "forward" in vars(m)
                       for m in (self.model, self.base))

    def hidden(self, tokens: torch.Tensor, cache: DynamicCache | None, past: int) -> torch.Tensor:
        """The last decoder layer's output (B, T, h), before the final norm; ``cache`` grows by the T positions."""
        base = self.base
        hidden = base.embed_tokens(tokens)
        positions, rotary = self._rotary(hidden, past) if tokens.shape[1] == 1 else (None, None)
        if positions is None:
            positions = torch.arange(past, past + tokens.shape[1], device=tokens.device).unsqueeze(0)  # (1, T)
            rotary = base.rotary_emb(hidden, position_ids=positions)
        use_cache = cache is not None
        for layer in self.layers:
            hidden = layer(hidden, attention_mask=None, position_embeddings=rotary, position_ids=positions,
                           cache=cache, use_cache=use_cache)
        return hidden

    def _rotary(self, hidden: torch.Tensor, past: int) -> tuple[Any, Any]:
        """(position ids, rotary embedding) of one new token at ``past``, kept from the first time; else (None, None).

        (None, None) for a rope other than the default one, which may depend on more than the position.
        """
        module = self.base.rotary_emb
        inv_freq = getattr(module, "inv_freq", None)
        if getattr(module, "rope_type", None) != "default" or not isinstance(inv_freq, torch.Tensor):
            return None, None
        if self._inv_freq != (id(inv_freq), inv_freq._version):  # moved, replaced or changed: start again
            self._steps.clear()
            self._inv_freq = (id(inv_freq), inv_freq._version)
        key = (past, hidden.dtype, hidden.device, torch.is_inference_mode_enabled())  # inference tensors stay there
        if key not in self._steps:
            positions = torch.arange(past, past + 1, device=hidden.device).unsqueeze(0)  # (1, 1)
            self._steps[key] = positions, module(hidden, position_ids=positions)
        return self._steps[key]

    def reproduces_library(self) -> bool:
        """The library's logits, bit for bit, on a probe: a full pass, and a 4-token prefill then one cached step."""
        model = self.model
        device = model.lm_head.weight.device
        tokens = (torch.arange(10, device=device) % min(model.config.vocab_size, 5)).reshape(2, 5)  # (2, 5)
        modes = [(module, module.training) for module in model.modules()]
        model.eval()
        try:
            with torch.no_grad():
                same = torch.equal(model(input_ids=tokens, use_cache=False).logits,
                                   model.lm_head(self.norm(self.hidden(tokens, None, 0))))
                theirs, mine = DynamicCache(config=model.config), DynamicCache(config=model.config)
                for start, end in ((0, 4), (4, 5)):
                    ref = model(input_ids=tokens[:, start:end], cache=theirs, use_cache=True,
                                logits_to_keep=1).logits[:, -1]
                    got = model.lm_head(self.norm(self.hidden(tokens[:, start:end], mine, start))[:, -1:])[:, -1]
                    same = same and torch.equal(ref, got)
                return same
        except Exception:  # any failure: the library's forward it is
            return False
        finally:
            for module, training in modes:
                module.training = training


def _build_direct_path(model: PreTrainedModel) -> _DirectPath | None:
    """The direct path for a transformers Llama with SDPA attention that reproduces the library exactly; else None."""
    try:
        from transformers.models.llama.modeling_llama import LlamaForCausalLM, LlamaModel
    except ImportError:
        return None
    if type(model) is not LlamaForCausalLM or type(model.model) is not LlamaModel:  # subclasses may add to forward
        return None
    if model.config._attn_implementation != "sdpa" or not len(model.model.layers):
        return None
    layer_args = inspect.signature(type(model.model.layers[0]).forward).parameters  # this transformers' names
    if not {"cache", "position_embeddings", "attention_mask"} <= set(layer_args):
        return None
    path = _DirectPath(model)
    return path if path.reproduces_library() else None


# ------------------------------------------------------------------------------------------------------- factory
def make_hf(task, model_type: str | None = None, path: str | None = None, hf_config: dict | None = None,
            **config: Any) -> HFAgent:
    """The ``hf`` agent for ``task``; raises ValueError naming a bad key or value.

    A fresh ``model_type`` model whose config fields are the other keys, the model saved in the local directory
    ``path``, or a fresh model of the saved config ``hf_config`` (a config.json's contents; what a checkpoint of a
    model read from a directory records).
    """
    given = [name for name, value in (("model_type", model_type), ("path", path), ("hf_config", hf_config))
             if value is not None]
    if len(given) != 1:
        raise ValueError(f"give model_type (a fresh model from a config) or path (a local directory), e.g. {EXAMPLE}"
                         + (f"; not both ({' and '.join(given)})" if given else ""))
    if (path is not None or hf_config is not None) and config:
        what = f"the one saved in {path!r}" if path is not None else "the one hf_config describes"
        raise ValueError(f"with {given[0]}, the model is {what}: no other config keys are allowed "
                         f"(got {sorted(config)}); give model_type instead to build a fresh model")
    if path is not None:
        model = _load(path)
    elif hf_config is not None:
        model = _from_saved_config(hf_config)
    else:
        assert model_type is not None  # exactly one of the three is given
        model = _build(task, model_type, config)
    text = model.config.get_text_config(decoder=True)
    vocab = getattr(text, "vocab_size", None)
    if vocab is None or vocab < task.vocab_size:
        raise ValueError(f"the model's vocab_size is {vocab}; the task needs at least {task.vocab_size} tokens")
    positions = getattr(text, "max_position_embeddings", None)  # GPT-2's n_positions through its attribute_map
    if isinstance(positions, int) and positions < task.seq_len:
        raise ValueError(f"the model reads at most {positions} positions (max_position_embeddings); the task's "
                         f"sequences are {task.seq_len} tokens")
    agent = HFAgent(model, task)
    if path is not None:  # what a checkpoint records instead of the path (agents.models.registry.agent_spec)
        own = {"hf_config": saved_config(model)}
        agent.checkpoint_config = own  # type: ignore[assignment]  # Module.__setattr__ takes any value
    return agent


def saved_config(model: PreTrainedModel) -> dict:
    """The whole config of a transformers model as JSON-plain data (``hf_config``).

    Every field, defaults included (the defaults of another transformers version may differ), without its
    provenance (path, version, dtype).
    """
    config = json.loads(model.config.to_json_string(use_diff=False))
    return {k: v for k, v in config.items() if k not in _UNSAVED_KEYS}


def _from_saved_config(hf_config: dict) -> PreTrainedModel:
    if not isinstance(hf_config, dict) or not isinstance(hf_config.get("model_type"), str):
        raise ValueError(f"hf_config must be a saved config (a JSON object with its model_type, as config.json "
                         f"holds); got {str(hf_config)[:80]!r}")
    fields = {k: v for k, v in hf_config.items() if k not in _UNSAVED_KEYS}
    model_type = fields.pop("model_type")
    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ValueError(f"hf_config: model_type {model_type!r} has no causal-LM model in transformers "
                         f"{transformers.__version__}")
    try:
        cfg = AutoConfig.for_model(model_type, **fields)
    except Exception as e:  # transformers validates the fields in its own ways
        cause = e.__cause__ or e
        raise ValueError(f"hf_config: invalid {model_type} config ({type(cause).__name__}: "
                         f"{' '.join(str(cause).split())})") from e
    return _with_attention(lambda attn: AutoModelForCausalLM.from_config(cfg, attn_implementation=attn,
                                                                         dtype=torch.float32),
                           None, f"hf_config ({model_type})")


def _build(task, model_type: str, config: dict) -> PreTrainedModel:
    if not isinstance(model_type, str):
        raise TypeError(f"model_type must be a string such as 'llama'; got {model_type!r}")
    if model_type not in CONFIG_MAPPING:
        close = difflib.get_close_matches(model_type, list(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES), n=3)
        raise ValueError(f"unknown model_type {model_type!r} (transformers {transformers.__version__})"
                         + (f"; did you mean {', '.join(close)}?" if close else "; e.g. llama, gpt2, mistral, qwen2"))
    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ValueError(f"model_type {model_type!r} has no causal-LM model in transformers; use a decoder such as "
                         "llama, gpt2, mistral or qwen2")
    for key in ("dtype", "torch_dtype"):
        if key in config:
            raise ValueError(f"{key!r}: the hf agent's weights are float32 (train with autocast for lower precision)")
    attention = config.pop("attn_implementation", None)
    default = AutoConfig.for_model(model_type)
    known = set(default.to_dict())
    settings = {"vocab_size": task.vocab_size, "eos_token_id": task.eos, "pad_token_id": task.pad,
                "bos_token_id": task.eos}
    settings.update({k: 0.0 for k, v in default.to_dict().items()
                     if k.endswith(_DROPOUT_SUFFIXES) and isinstance(v, float) and v > 0})
    settings = {k: v for k, v in settings.items() if k in known or k in default.attribute_map}
    settings.update(config)
    if settings["vocab_size"] != task.vocab_size and (not isinstance(settings["vocab_size"], int)
                                                      or settings["vocab_size"] < task.vocab_size):
        raise ValueError(f"vocab_size must be at least the task's {task.vocab_size}; got {settings['vocab_size']!r}")
    try:
        cfg = AutoConfig.for_model(model_type, **settings)
    except Exception as e:  # transformers validates the fields in its own ways (strict dataclasses, asserts)
        cause = e.__cause__ or e  # huggingface_hub's StrictDataclass*Error wraps the ValueError or TypeError
        detail = " ".join(str(cause).split())
        raise ValueError(f"model_type {model_type!r}: invalid config ({type(cause).__name__}: {detail})") from e
    # a config keeps any keyword as an attribute: the keys that ended up stored as new fields are misspelt ones
    # (a known legacy key such as llama's rope_theta is consumed, an alias such as gpt2's hidden_size is mapped)
    unknown = sorted(k for k in config if k not in known and k in cfg.to_dict())
    if unknown:
        generic = set(PreTrainedConfig().to_dict())
        valid = sorted(known - generic) + sorted(default.attribute_map)
        hints = {k: difflib.get_close_matches(k, valid, n=1) for k in unknown}
        hint = "; ".join(f"{k!r}: did you mean {m[0]!r}?" for k, m in hints.items() if m)
        raise ValueError(f"unknown {model_type} config keys {unknown}{' (' + hint + ')' if hint else ''}; valid keys "
                         f"include {', '.join(valid[:12])}{', ...' if len(valid) > 12 else ''}")
    return _with_attention(lambda attn: AutoModelForCausalLM.from_config(cfg, attn_implementation=attn,
                                                                         dtype=torch.float32),
                           attention, f"model_type {model_type!r}")


def _load(path: str) -> PreTrainedModel:
    if not isinstance(path, str):
        raise TypeError(f"path must be a string naming a local directory; got {type(path).__name__}")
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise ValueError(f"path {path!r} does not exist or is not a directory: give a local directory written by "
                         "model.save_pretrained (nothing is downloaded); a checkpoint saved before hf checkpoints held "
                         "their config names its directory: put the directory back there, or replace the checkpoint's "
                         "agent config {\"path\": ...} by {\"hf_config\": the contents of its config.json}")
    if not (directory / "config.json").is_file():
        raise ValueError(f"path {path!r} has no config.json: give a directory written by model.save_pretrained")

    def load(attn: str) -> PreTrainedModel:
        with quiet_unless_watched():
            return AutoModelForCausalLM.from_pretrained(directory, local_files_only=True, attn_implementation=attn,
                                                        dtype=torch.float32)

    return _with_attention(load, None, f"path {path!r}")


def set_progress(enabled: bool | None) -> None:
    """Show transformers' progress bars while this package loads models (True), never (False), or when watched.

    None, the default, shows them only where someone watches them: stderr is a terminal and
    HF_HUB_DISABLE_PROGRESS_BARS is not set.
    """
    global _PROGRESS
    _PROGRESS = enabled


def progress_enabled() -> bool:
    """Whether transformers' bars show now (``set_progress``)."""
    if _PROGRESS is not None:
        return _PROGRESS
    if os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    return sys.stderr.isatty() and hf_logging.is_progress_bar_enabled()


@contextlib.contextmanager
def quiet_unless_watched():
    """The progress bars of transformers inside the block as ``progress_enabled()`` says; their state restored after."""
    was, want = hf_logging.is_progress_bar_enabled(), progress_enabled()
    if want != was:
        (hf_logging.enable_progress_bar if want else hf_logging.disable_progress_bar)()
    try:
        yield
    finally:
        if want != was:
            (hf_logging.enable_progress_bar if was else hf_logging.disable_progress_bar)()


def _with_attention(build, attention: str | None, what: str) -> PreTrainedModel:
    """``build(attn_implementation)`` with the given one, else the first of ATTENTION the architecture supports."""
    choices = [attention] if attention is not None else list(ATTENTION)
    for i, attn in enumerate(choices):
        try:
            return build(attn)
        except ValueError as e:
            if i + 1 < len(choices):  # e.g. "... does not support ... scaled_dot_product_attention yet": eager
                continue
            raise ValueError(f"{what}: cannot build the model ({e})") from e
        except (OSError, KeyError, RuntimeError, AssertionError) as e:
            raise ValueError(f"{what}: cannot build the model ({type(e).__name__}: {e})") from e
    raise AssertionError("unreachable")


if __name__ == "__main__":
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from parity_env import Task

    torch.manual_seed(0)
    task = Task(d=8)
    agent = make_hf(task, model_type="llama", hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    num_key_value_heads=2, intermediate_size=64, max_position_embeddings=64).eval()
    tokens = torch.from_numpy(task.sample_demonstrations(4, seed=0)[0])  # (4, seq_len)
    with torch.no_grad():
        full = agent(tokens)  # (4, seq_len, 3)
        P = task.prompt_len
        state = agent.new_state(4)
        logits, state = agent.decode(tokens[:, :P], state)  # the prompt: the scores at position P - 1
        steps = [logits]
        for t in range(P, task.seq_len):
            logits, state = agent.decode(tokens[:, t : t + 1], state)
            steps.append(logits)
        err = (torch.stack(steps, 1) - full[:, P - 1 :]).abs().max().item()  # positions P - 1 .. seq_len - 1
        tail = (agent(tokens, logits_from=P) - full[:, P:]).abs().max().item()
    attention = agent.model.config._attn_implementation
    print(f"hf llama for {task}: {agent.num_parameters()} parameters, attention {attention}, max |diff| vs the full "
          f"pass: decode {err:.2e}, logits_from {tail:.2e}")
