"""thinkact: train conversational agents to think before they act."""

__version__ = "0.1.0"
