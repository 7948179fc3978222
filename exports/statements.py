"""What a policy version says about purposes and recipients, for the access summary.

Policy versions store their text, request type rules and retention rules, but no structured list
of purposes or recipients. Until they do, the summary quotes the sections of the text whose
headings name them ("2. How We Use Your Information", "Disclosure and Transfer of Information"),
in the policy's own words and language. When no heading matches (a text without headings, or in
a language the words below do not cover), the summary says so and carries the whole text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A heading: a short line, optionally numbered ("3.", "3.1"), that is not a sentence or a list
# item: it ends without punctuation and starts with a letter that is not lower case (a wrapped
# sentence's second line usually is).
_HEADING = re.compile(r"^\s*(?:\d+(?:\.\d+)*\.?\s+)?(?P<title>[^\W\d_][^.;:!?]{0,79})\s*$")
_LIST_ITEM = re.compile(r"^\s*[-•*\u2013]")
PURPOSE_WORDS = re.compile(
    r"\b(use|uses|using|purposes?)\b|цел|мақсад|maqsad|məqsəd", re.IGNORECASE
)
RECIPIENT_WORDS = re.compile(
    r"shar|disclos|third[- ]part|transfer|recipient|передач|третьим|учинчи|uchinchi|üçüncü",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Section:
    heading: str
    body: str


@dataclass(frozen=True)
class PolicyStatements:
    purposes: list[Section]
    recipients: list[Section]

    @property
    def complete(self) -> bool:
        return bool(self.purposes and self.recipients)


def policy_sections(text: str) -> list[Section]:
    """Split a policy text into sections at its heading lines; text before the first is dropped."""
    sections: list[Section] = []
    heading: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        found = None if _LIST_ITEM.match(line) else _HEADING.match(line)
        if found and not found["title"][0].islower() and len(line.strip()) <= 90:
            if heading is not None:
                sections.append(Section(heading, "\n".join(body).strip()))
            heading, body = line.strip(), []
        elif heading is not None:
            body.append(line.rstrip())
    if heading is not None:
        sections.append(Section(heading, "\n".join(body).strip()))
    return sections


def policy_statements(text: str) -> PolicyStatements:
    """Return the sections of ``text`` about purposes of processing and about recipients."""
    sections = [s for s in policy_sections(text) if s.body]
    return PolicyStatements(
        purposes=[s for s in sections if PURPOSE_WORDS.search(s.heading)],
        recipients=[s for s in sections if RECIPIENT_WORDS.search(s.heading)],
    )
