"""Strict YAML for every YAML file consentgate reads (policies, taxonomy extensions,
redaction profiles): one meaning per file and bounded work. Pure.

PyYAML's safe loader, with:

* no anchors or aliases: none of these files needs them, and they are how a small file
  becomes a huge (``MemoryError``: an alias bomb) or recursive (``RecursionError``) document;
* nesting of at most ``limits.MAX_NESTING`` levels (the composer recurses per level);
* no key repeated in a mapping (``US: off`` then ``US: on`` would silently mean ``on``);
* integers of at most ``limits.MAX_INT_DIGITS`` digits;
* timestamps kept as text, so that ``parse_timestamp`` checks their range (PyYAML's own
  conversion overflows on ``0001-01-01T00:00:00+01:00``).

Errors are ``yaml.YAMLError``; ``describe`` turns one into a line number and a reason that
quotes no content.
"""

from __future__ import annotations

from typing import Any

import yaml

from consentgate import limits


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the rules of this module."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None,
                None,
                "anchors and aliases (&, *) are not allowed",
                event.start_mark,
            )
        self._depth += 1
        try:
            if self._depth > limits.MAX_NESTING:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {limits.MAX_NESTING} levels", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                continue  # refused below by the constructor (unhashable key)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {_key_text(key)} is repeated", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_bounded_int(self, node: yaml.ScalarNode) -> Any:
        digits = str(node.value).lstrip("+-").replace("_", "")
        if len(digits) > limits.MAX_INT_DIGITS:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"an integer has more than {limits.MAX_INT_DIGITS} digits",
                node.start_mark,
            )
        return self.construct_yaml_int(node)


StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_bounded_int)
StrictLoader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    StrictLoader.construct_yaml_str,  # type: ignore[type-var]
)


def _key_text(key: Any) -> str:
    text = str(key)
    if len(text) <= 64 and text.isascii() and text.isprintable():
        return repr(text)
    return "(a key)"


def load(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers) and its value, parsed once."""
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        raw = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, raw


def describe(exc: yaml.YAMLError, text: str) -> tuple[int | None, str]:
    """The line (1-based, when known) and the reason of a YAML error, quoting no content."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        return (mark.line + 1 if mark is not None else None), str(exc.problem or exc.context)
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        if isinstance(exc.character, int):
            return line, f"character U+{exc.character:04X} is not allowed"
        return line, str(exc.reason)
    return None, type(exc).__name__
