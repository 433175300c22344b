"""The demo event file holds the programme of 26 October 2020 exactly as KB published it.

The programme text below is a copy of the programme section of KB's page about the autumn 2020
meeting ("Nu kan du ta del av Träffpunkt biblioteksplaner i efterhand"); the expected titles,
speakers and organisations are copied from it. The test needs nothing outside the project.
"""

from __future__ import annotations

from server.programme.importer import EventFile, read_event_file
from tests.conftest import DEMO

PROGRAMME_TEXT = """\
Välkomna!

Anja Dahlstedt, avdelningschef KB.

Introduktion

Oskar Laurin, enhetschef KB.

Trender i planerna 2020

Anna-Stina Takala, handläggare, KB.

Starkare bibliotek genom lyft och lärande

Enhetschef Lotta Brilioth Biörnstad, Kulturrådet, berättar mer om nuläget och kommande \
bidragsomgångar för Stärkta bibliotek, samt Läsfrämjandelyftet som vänder sig till \
biblioteksmedarbetare på landets alla folkbibliotek. Vad händer nu och vilka är de första stegen \
i den nya satsningen?

Hur har samhällsinformationen om covid-19 fungerat för personer med funktionsnedsättning?

MTM har delfinansierat en rapport som stiftelsen Begripsam genomfört. MTM presenterar rapportens \
slutsatser och resonerar kring hur de kan vara relevanta för bibliotekens arbete med tillgänglig \
samhällsinformation i krissituationer. Daniel Frelén och Hillevi Andreasson som är \
verksamhetsutvecklare respektive bibliotekarie på MTM håller i denna punkt.

Ta del av rapporten som finns tillgänglig på MTM:s webbplats:

Framtidsdialoger - en metodbok

Genom att genomföra framtidsdialoger tillsammans med aktörer i lokalsamhället kan kommunernas \
biblioteksplanearbete stimuleras, utvecklas och breddas.  Här får vi ta del av en metodbok som \
Johanna Rivano Eckerdal och Lisa Engström, Institutionen för kulturvetenskaper vid Lunds \
universitet samt Ann Lundborg och Anna Åkerberg, Region Skåne har tagit fram i ett gemensamt \
arbete.

Även Per Andersson, bibliotekschef i Eslöv, deltar och berättar om hur Framtidsdialogerna \
påverkade kommunens nya biblioteksplan.

Redan nu finns metodboken tillgänglig på Region Skånes webbplats:

Handbok i kommunal krisberedskap – ett stöd för verksamheter som alltid behöver fungera

Maria Bergroth från Myndigheten för samhällsskydd och beredskap (MSB) berättar om arbetet med en \
ny handbok i krisberedskap för kommunernas kultur- och fritidsverksamhet.

Handboken finns publicerad på MSB:s webbplats:

Biblioteksplanen som verktyg i kris

Bibliotekscheferna Anna Lundström, Bräcke, Lisa Ångman, Ljusdal och Sonja Viklund, Mora, \
samtalar och reflekterar tillsammans kring hur och om biblioteksplanen var ett stöd när \
verksamheterna snabbt behövt ställa om i samband med pandemin. Samtalet leds av Oskar Laurin, KB.
"""

TITLES = [
    "Välkomna!",
    "Introduktion",
    "Trender i planerna 2020",
    "Starkare bibliotek genom lyft och lärande",
    "Hur har samhällsinformationen om covid-19 fungerat för personer med funktionsnedsättning?",
    "Framtidsdialoger - en metodbok",
    "Handbok i kommunal krisberedskap – ett stöd för verksamheter som alltid behöver fungera",
    "Biblioteksplanen som verktyg i kris",
]

SPEAKERS = {
    "Anja Dahlstedt", "Oskar Laurin", "Anna-Stina Takala", "Lotta Brilioth Biörnstad",
    "Daniel Frelén", "Hillevi Andreasson", "Johanna Rivano Eckerdal", "Lisa Engström",
    "Ann Lundborg", "Anna Åkerberg", "Per Andersson", "Maria Bergroth", "Anna Lundström",
    "Lisa Ångman", "Sonja Viklund",
}

ORGANISATIONS = {
    "KB", "Kulturrådet", "MTM", "stiftelsen Begripsam",
    "Institutionen för kulturvetenskaper vid Lunds universitet", "Region Skåne", "Eslöv",
    "Myndigheten för samhällsskydd och beredskap (MSB)", "Bräcke", "Ljusdal", "Mora",
}


def flat(text: str) -> str:
    """The text with every run of white space as one space (the copy wraps lines)."""
    return " ".join(text.split())


def demo() -> EventFile:
    return read_event_file(DEMO)


def sections() -> dict[str, str]:
    """Each programme title with the text that follows it, up to the next title."""
    text, found = flat(PROGRAMME_TEXT), {}
    starts = [text.index(title) for title in TITLES]
    for title, start, end in zip(TITLES, starts, [*starts[1:], len(text)], strict=True):
        found[title] = text[start + len(title):end]
    return found


def test_the_expected_lists_are_verbatim_in_the_programme_text() -> None:
    text = flat(PROGRAMME_TEXT)
    assert [t for t in TITLES if t not in text] == []
    assert sorted(s for s in SPEAKERS if s not in text) == []
    assert sorted(o for o in ORGANISATIONS if o not in text) == []


def test_the_event_file_has_every_title_speaker_and_organisation() -> None:
    event = demo()
    assert [item.title for item in event.programme] == TITLES
    assert {s.name for item in event.programme for s in item.speakers} == SPEAKERS
    organisations = {s.organisation for item in event.programme for s in item.speakers}
    organisations |= {o for item in event.programme for o in item.organisations}
    assert organisations == ORGANISATIONS


def test_each_item_names_only_what_its_own_programme_text_names() -> None:
    """A speaker, an organisation or a title misplaced to another item fails here."""
    text = sections()
    for item in demo().programme:
        named = [s.name for s in item.speakers] + [s.organisation for s in item.speakers]
        named += item.organisations
        missing = [n for n in named if n and n not in text[item.title]]
        assert missing == [], item.title
        # A title says what someone does, never where they work.
        misplaced = [s.title for s in item.speakers
                     if "Institution" in s.title or any(o in s.title for o in ORGANISATIONS)]
        assert misplaced == [], item.title


def test_every_organisation_the_text_names_for_an_item_is_in_the_file() -> None:
    text = sections()
    for item in demo().programme:
        in_file = {s.organisation for s in item.speakers} | set(item.organisations)
        in_text = {o for o in ORGANISATIONS if o in text[item.title]}
        assert in_text <= in_file, item.title
