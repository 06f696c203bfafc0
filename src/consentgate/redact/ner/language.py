"""The language of a record, for choosing its NER pipeline.

A record's language comes from the data when the caller has it (a language column), and
is detected otherwise with ``py3langid`` (a maintained fork of langid.py: a naive Bayes
model over byte n-grams shipped inside the package, numpy only, no download), restricted
to ``CANDIDATES`` so that a German or Dutch message is not forced into English or French.
Below ``CONFIDENCE`` (the detector's normalised probability) — "Hi Jean," or "ok" — the
text says too little and the default language applies. The detector is loaded once per
process, on first use.
"""

from __future__ import annotations

import importlib
from typing import Any, Final

__all__ = ["CANDIDATES", "CONFIDENCE", "Detector", "normalize"]

CANDIDATES: Final = ("en", "fr", "de", "es", "it", "nl", "pt")
"""Languages the detector chooses from."""

CONFIDENCE: Final = 0.5
"""Below this probability the detection is ignored: more likely wrong than right."""

_IDENTIFIER: list[Any] = []  # the loaded py3langid model, per process


def normalize(tag: str | None) -> str | None:
    """``"fr-CA"``, ``"FR"``, ``"fr_FR"`` -> ``"fr"``; empty -> None."""
    if not tag:
        return None
    return tag.replace("_", "-").split("-", 1)[0].strip().lower() or None


class Detector:
    """Detects a text's language among ``CANDIDATES``; ``default`` when unsure or when
    ``py3langid`` is not installed."""

    __slots__ = ("_default",)

    def __init__(self, default: str) -> None:
        self._default = default

    @property
    def available(self) -> bool:
        return _identifier() is not None

    def detect(self, text: str) -> str:
        identifier = _identifier()
        if identifier is None:
            return self._default
        language, probability = identifier.classify(text)
        return str(language) if probability >= CONFIDENCE else self._default


def _identifier() -> Any:
    if not _IDENTIFIER:
        try:
            langid = importlib.import_module("py3langid.langid")
        except ImportError:
            _IDENTIFIER.append(None)
        else:
            identifier = langid.LanguageIdentifier.from_model_file(
                langid.MODEL_FILE, norm_probs=True
            )
            identifier.set_languages(list(CANDIDATES))
            _IDENTIFIER.append(identifier)
    return _IDENTIFIER[0]
