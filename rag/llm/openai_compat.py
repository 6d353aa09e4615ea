"""A site's OpenAI-compatible inference server (vLLM, Ollama, Xinference, llama.cpp server)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx

from rag.llm.base import ChatModel, LLMUnavailableError


class OpenAICompatModel(ChatModel):
    def __init__(self, url: str, model: str, api_key: str | None = None, timeout_s: float = 120.0) -> None:
        self._base = url.rstrip("/")
        if not self._base.endswith("/v1"):
            self._base += "/v1"
        self.name = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout_s

    def stream(self, messages: list[dict[str, str]], max_tokens: int = 400) -> Iterator[str]:
        body = {"model": self.name, "messages": messages, "temperature": 0, "max_tokens": max_tokens, "stream": True}
        try:
            with httpx.stream("POST", f"{self._base}/chat/completions", json=body, headers=self._headers,
                              timeout=self._timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    raise LLMUnavailableError(
                        f"LLM server {self._base} answered {response.status_code}: {response.text[:300]}",
                        f"模型服务器返回错误 {response.status_code}")
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    choice = (json.loads(data).get("choices") or [{}])[0]
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        yield text
        except httpx.HTTPError as exc:
            raise LLMUnavailableError(f"cannot reach the LLM server at {self._base} ({exc}); check POLICYQA_LLM_URL "
                                      "or use --mode extractive", "无法连接模型服务器") from exc
