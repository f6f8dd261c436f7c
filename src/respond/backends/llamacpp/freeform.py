"""GBNF for a custom tool's freeform input: its `format` grammar (Lark or a regex) made llama.cpp's.

When a request forces a custom tool (`tool_choice: {type: custom, name}`), the embedded model's
whole answer is that tool's input, decoded under this grammar (no JSON around it).

- regex: llama-cpp-python's own regex -> GBNF converter (`SchemaConverter._visit_pattern`, raw).
- Lark: the subset tool grammars use is translated rule by rule: rules and terminals, string
  literals (`"x"`, `"x"i`, ranges `"a".."z"`), `/regex/` terminals (through the regex converter),
  groups, `[optional]`, `?` `*` `+`, `~ n` / `~ n..m`, aliases (dropped), `%import common.X` for
  the usual terminals, and `%ignore` (the ignored terminal is allowed between a rule's items).
  Templates and other directives are refused with a 400 naming `tools`.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from respond.core.errors import BackendError
from respond.protocol.shapes import JSONObject

COMMON = {
    "DIGIT": "/[0-9]/", "HEXDIGIT": "/[0-9a-fA-F]/", "INT": "/[0-9]+/", "SIGNED_INT": "/[+-]?[0-9]+/",
    "DECIMAL": r"/[0-9]+\.[0-9]*|\.[0-9]+/", "NUMBER": r"/[0-9]+(\.[0-9]+)?/",
    "SIGNED_NUMBER": r"/[+-]?[0-9]+(\.[0-9]+)?/", "FLOAT": r"/[0-9]+\.[0-9]+/", "LETTER": "/[a-zA-Z]/",
    "LCASE_LETTER": "/[a-z]/", "UCASE_LETTER": "/[A-Z]/", "WORD": "/[a-zA-Z]+/",
    "CNAME": "/[a-zA-Z_][a-zA-Z0-9_]*/", "WS": r"/[ \t\f\r\n]+/", "WS_INLINE": r"/[ \t]+/",
    "NEWLINE": r"/(\r?\n)+/", "CR": r"/\r/", "LF": r"/\n/", "ESCAPED_STRING": r'/"([^"\\]|\\.)*"/',
}
_TOKEN = re.compile(r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"i?)|(?P<re>/(?:[^/\\\n]|\\.)+/[imslux]*)|(?P<num>\d+)
                        |(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<op>->|\.\.|[()\[\]|*+?~]))""", re.VERBOSE)
_DEF = re.compile(r"^([?!]?)([A-Za-z_][A-Za-z_0-9]*)(\.-?\d+)?\s*:(.*)$", re.DOTALL)


def _bad(message: str) -> BackendError:
    return BackendError(f"unsupported custom tool grammar: {message}", status=400, param="tools")


def _converter() -> Any:
    from llama_cpp.llama_grammar import SchemaConverter

    return SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=True)


def _pattern(conv: Any, regex: str, name: str) -> str:
    regex = regex.removeprefix("^").removesuffix("$")
    try:
        return str(conv._visit_pattern(f"^{regex}$", name))
    except (AssertionError, ValueError, IndexError, KeyError) as exc:
        raise _bad(f"regex /{regex}/: {exc}") from None


def freeform_grammar(fmt: JSONObject) -> str:
    """GBNF (root rule `root`) for a custom tool `format` of type grammar."""
    conv = _converter()
    if fmt.get("syntax") == "regex":
        root = _pattern(conv, str(fmt.get("definition", "")), "input")
    else:
        root = _Lark(conv).translate(str(fmt.get("definition", "")))
    return _known_escapes(f"{conv.format_grammar()}\nroot ::= {root}\n")


_ESCAPE = re.compile(r"\\(.)")
_GBNF_ESCAPES = set('xuUtrn\\"[]')


def _known_escapes(grammar: str) -> str:
    r"""The regex converter keeps escapes such as `\.` that llama.cpp's grammar parser refuses;
    an escaped character that needs none is written plainly."""
    return _ESCAPE.sub(lambda m: m.group(0) if m.group(1) in _GBNF_ESCAPES else m.group(1), grammar)


def _statements(text: str) -> list[str]:
    out: list[str] = []
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)//.*$", "", raw).rstrip()
        if not line.strip():
            continue
        if out and line.lstrip().startswith("|"):
            out[-1] += " " + line.strip()
        else:
            out.append(line.strip())
    return out


class _Lark:
    def __init__(self, conv: Any) -> None:
        self.conv = conv
        self.defs: dict[str, str] = {}
        self.ignore: list[str] = []
        self.regexes = 0
        self.sep = " "

    def translate(self, text: str) -> str:
        for stmt in _statements(text):
            if stmt.startswith("%import"):
                for name in re.findall(r"[A-Z_][A-Z_0-9]*", stmt.split(None, 1)[1].split(".", 1)[-1]):
                    if name not in COMMON:
                        raise _bad(f"'%import {name}' (only common terminals are known)")
                    self.defs.setdefault(name, COMMON[name])
            elif stmt.startswith("%ignore"):
                self.ignore.append(stmt.split(None, 1)[1].strip())
            elif stmt.startswith("%"):
                raise _bad(f"directive '{stmt.split()[0]}'")
            else:
                match = _DEF.match(stmt)
                if match is None:
                    raise _bad(f"cannot read '{stmt[:60]}'")
                self.defs[match.group(2)] = match.group(4)
        if "start" not in self.defs:
            raise _bad("no 'start' rule")
        ignore = " ".join(self._expr(_tokens(i), False) for i in self.ignore)
        self.sep = f" ( {ignore} )? " if ignore else " "
        for name, body in self.defs.items():
            self.conv._rules[_rule(name)] = self._expr(_tokens(body), name[0].islower())
        return _rule("start")

    def _expr(self, tokens: list[tuple[str, str]], in_rule: bool) -> str:
        pos = [0]

        def peek() -> tuple[str, str] | None:
            return tokens[pos[0]] if pos[0] < len(tokens) else None

        def alternatives() -> str:
            alts = [sequence()]
            while peek() == ("op", "|"):
                pos[0] += 1
                alts.append(sequence())
            return " | ".join(alts) if len(alts) > 1 else alts[0]

        def sequence() -> str:
            items: list[str] = []
            while (tok := peek()) is not None and tok not in (("op", "|"), ("op", ")"), ("op", "]")):
                if tok == ("op", "->"):
                    pos[0] += 2  # an alias names the tree node: nothing to match
                    continue
                items.append(postfix(atom()))
            return (self.sep if in_rule else " ").join(items) or '""'

        def atom() -> str:
            kind, value = tokens[pos[0]]
            pos[0] += 1
            if kind == "op" and value in "([":
                inner = alternatives()
                pos[0] += 1  # the closing bracket
                return f"( {inner} )" + ("?" if value == "[" else "")
            if kind == "str":
                if peek() == ("op", ".."):
                    pos[0] += 2
                    return f"[{_literal(value)}-{_literal(tokens[pos[0] - 1][1])}]"
                return _string(self.conv, value)
            if kind == "re":
                self.regexes += 1
                body = value[1:value.rindex("/")]
                return _pattern(self.conv, body, f"re{self.regexes}")
            if kind == "name":
                if value not in self.defs:
                    raise _bad(f"'{value}' is used but not defined")
                return _rule(value)
            raise _bad(f"unexpected '{value}'")

        def postfix(item: str) -> str:
            tok = peek()
            if tok is not None and tok[0] == "op" and tok[1] in "*+?":
                pos[0] += 1
                return f"{item}{tok[1]}"
            if tok == ("op", "~"):
                low = tokens[pos[0] + 1][1]
                pos[0] += 2
                if peek() == ("op", ".."):
                    high = tokens[pos[0] + 1][1]
                    pos[0] += 2
                    return f"{item}{{{low},{high}}}"
                return f"{item}{{{low}}}"
            return item

        try:
            out = alternatives()
        except IndexError:
            raise _bad("unbalanced brackets or a dangling operator") from None
        if pos[0] != len(tokens):
            raise _bad(f"unexpected '{tokens[pos[0]][1]}'")
        return out


def _tokens(body: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    body = body.strip()
    while pos < len(body):
        match = _TOKEN.match(body, pos)
        if match is None or match.end() == pos:
            raise _bad(f"cannot read '{body[pos:pos + 30]}'")
        kind = match.lastgroup or "op"
        out.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(body) and body[pos].isspace():
            pos += 1
    return out


def _rule(name: str) -> str:
    return ("t-" if name[0].isupper() else "r-") + name.lower().replace("_", "-")


def _literal(token: str) -> str:
    value: str = ast.literal_eval(token.removesuffix("i"))
    return value


def _string(conv: Any, token: str) -> str:
    value = _literal(token)
    if token.endswith("i"):
        return " ".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else conv._format_literal(c) for c in value)
    return str(conv._format_literal(value))
