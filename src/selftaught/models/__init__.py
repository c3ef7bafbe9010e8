"""Model providers (plug-ins) and the recorder that caches, replays and records their completions."""

from selftaught.models.base import ChatRequest, Completion, ModelProvider

__all__ = ["ChatRequest", "Completion", "ModelProvider"]
