"""The parity task: its token protocol, demonstration sampler, and tuned Gymnasium, vector and TorchRL envs."""
