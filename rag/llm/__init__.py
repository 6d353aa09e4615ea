"""Chat models behind one small interface: the packaged local model, or a site's inference server."""

from __future__ import annotations

from rag.llm.base import ChatModel, LLMUnavailableError, RelevanceJudge

__all__ = ["ChatModel", "LLMUnavailableError", "RelevanceJudge", "load_chat_model"]


def load_chat_model(settings) -> ChatModel:
    """The site's OpenAI-compatible server when ``POLICYQA_LLM_URL`` is set, else the packaged model."""
    if settings.llm_url:
        from rag.llm.openai_compat import OpenAICompatModel

        return OpenAICompatModel(settings.llm_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout_s)
    from rag.llm.llamacpp import LlamaCppModel

    return LlamaCppModel(threads=settings.llm_threads, threads_batch=settings.llm_threads_batch, n_ctx=settings.llm_context,
                         weight_repack=settings.llm_weight_repack, timeout_s=settings.llm_timeout_s)
