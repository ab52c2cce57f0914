"""agents: policies for ParityCoT, pre-trained by next-token prediction and fine-tuned by RL through TorchRL.

    from agents import make_agent, register_agent
    agent = make_agent("gpt", task)     # or "linear", "hf", a registered name, or "package.module:factory"

An agent is any ``torch.nn.Module`` mapping tokens (B, T) to logits (B, T, task.n_actions) (``agents.models.agent``).
Modules: ``agent`` (the contract and decoding), ``registry`` (agents by name), ``model`` (the GPT), ``linear`` (the
paper's theory model), ``hf`` (Hugging Face causal LMs, the ``[hf]`` extra), ``generate``, ``pretrain`` (NTP on the
demonstration mixture), ``evaluate``, ``checkpoint`` (safetensors + JSON, no pickle), ``rl`` (the RL stage),
``reproduce`` (the main job), ``config`` (command lines generated from the configs) and ``cli`` (``parity-cot``).
"""

from .models.agent import check_agent
from .models.errors import AgentError
from .models.registry import AgentSpec, clone_agent, known_agents, make_agent, register_agent

__all__ = ["AgentError", "AgentSpec", "check_agent", "clone_agent", "known_agents", "make_agent", "register_agent"]
