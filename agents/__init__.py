"""agents: GPT-style policies for ParityCoT, pre-trained by next-token prediction and fine-tuned by RL through TorchRL.

Modules: ``model`` (the transformer and its KV cache), ``generate`` (batched generation and one-pass scoring),
``pretrain`` (NTP on the demonstration mixture), ``evaluate``, ``checkpoint`` (safetensors + JSON, no pickle),
``rl`` (the RL stage), ``reproduce`` (the main job) and ``cli`` (the ``parity-cot`` command).
"""
