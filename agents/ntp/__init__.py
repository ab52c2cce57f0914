"""The next-token-prediction stage: pre-training on a task's demonstration mixture."""
