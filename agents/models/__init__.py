"""The agents: the agent contract and decoding, agents by name, the shipped models (gpt, linear, hf), generation."""
