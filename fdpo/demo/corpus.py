"""A seeded generator of synthetic movie reviews whose sentiment is known exactly.

Every review is assembled from sentence templates whose slots carry sentiment values: adjectives (mild ±1,
strong ±2), intensifiers (×1.5), downtoners (×0.5), negations (×−0.5, so "not bad" is mildly positive and "not
great" mildly negative), verbs of liking ("loved" +2, "was bored by" −1), recommendations, ratings out of ten, and
neutral sentences (plot, setting, cast, where the reviewer saw it) worth 0. A review's ``score`` is the sum over its
slots, and its ``label`` is 1 when the score is positive. Reviews are 1 to 4 sentences long; each leans towards one
sentiment but may carry sentences of the other (mixed reviews) and neutral ones, and the two labels are drawn in
roughly equal numbers, so a language model trained on the corpus writes both kinds and preference optimization has
something to move.

``generate_reviews(n, seed)`` is deterministic under its seed (it uses its own ``random.Random``, never the global
state), and ``Review.prompt`` holds the review's first words, like the 4-word IMDB prompts of Wang et al. (2024).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["PROMPT_WORDS", "Review", "demo_prompts", "generate_reviews"]

#: Number of leading words of a review that make its prompt (the paper's IMDB prompts are 4 words long).
PROMPT_WORDS = 4

# Smallest |score| a review may have: a review whose sentences cancel out has no clear label and is redrawn.
_MIN_ABS_SCORE = 0.5


@dataclass(frozen=True)
class Review:
    """One synthetic review.

    Attributes:
        text: the review, 1 to 4 sentences.
        label: 1 if the review is positive (``score > 0``), else 0; index 1 of the demo classifier is positive.
        prompt: the first ``PROMPT_WORDS`` words of ``text``, the opening a language model is asked to continue.
        score: the summed sentiment of the review's words and phrases; ``|score| >= 0.5``.
    """

    text: str
    label: int
    prompt: str
    score: float


# ----------------------------------------------------------------------------------------------------------------
# Vocabulary. Values are the sentiment of a word; a review's score is the sum of its words' values.

_POSITIVE_STRONG = (
    "brilliant superb masterful stunning magnificent outstanding extraordinary breathtaking flawless exceptional "
    "sublime dazzling spectacular unforgettable phenomenal marvelous terrific wonderful excellent fantastic amazing "
    "great glorious exhilarating"
).split()
_POSITIVE_MILD = (
    "good nice fine solid pleasant charming enjoyable likable clever engaging witty lovely touching sweet sharp "
    "gripping moving heartfelt delightful inventive beautiful thoughtful compelling entertaining funny warm smart "
    "fresh memorable absorbing satisfying elegant polished tender lively"
).split()
_NEGATIVE_STRONG = (
    "awful terrible dreadful atrocious abysmal horrible unwatchable painful disastrous insufferable appalling "
    "laughable pathetic embarrassing horrendous wretched miserable hopeless dismal idiotic worthless unbearable "
    "horrid excruciating"
).split()
_NEGATIVE_MILD = (
    "bad poor dull boring bland weak flat clumsy tedious forgettable lazy messy predictable shallow stale sloppy "
    "tiresome uneven cheap silly confusing sluggish lifeless mediocre generic hollow overlong pointless awkward "
    "tired bloated muddled"
).split()
_NEUTRAL_ADJECTIVES = (
    "long short quiet loud dark colorful old-fashioned unusual familiar modest simple strange low-budget foreign "
    "talky stylized violent sprawling intimate experimental conventional independent big-budget slow-paced "
    "fast-paced black-and-white"
).split()

_ADJECTIVE_VALUES: dict[str, float] = {
    **dict.fromkeys(_POSITIVE_STRONG, 2.0),
    **dict.fromkeys(_POSITIVE_MILD, 1.0),
    **dict.fromkeys(_NEGATIVE_STRONG, -2.0),
    **dict.fromkeys(_NEGATIVE_MILD, -1.0),
    **dict.fromkeys(_NEUTRAL_ADJECTIVES, 0.0),
}

_MILD_INTENSIFIERS = "very really quite incredibly remarkably extremely genuinely surprisingly deeply".split()
_STRONG_INTENSIFIERS = "absolutely truly utterly simply".split()
_DOWNTONERS = ("somewhat", "a bit", "fairly", "mildly", "slightly", "rather")
_NEGATIONS = ("not", "never", "hardly")

_INTENSIFIER_FACTOR = 1.5
_DOWNTONER_FACTOR = 0.5
_NEGATED_VALUE = (
    1.0  # a negated adjective is mildly of the opposite sentiment: "not bad" +1, "not brilliant" −1
)

# (noun phrase, is plural)
_ASPECTS = (
    ("the acting", False),
    ("the script", False),
    ("the plot", False),
    ("the story", False),
    ("the dialogue", False),
    ("the direction", False),
    ("the cinematography", False),
    ("the soundtrack", False),
    ("the score", False),
    ("the editing", False),
    ("the pacing", False),
    ("the ending", False),
    ("the opening scene", False),
    ("the final act", False),
    ("the cast", False),
    ("the lead performance", False),
    ("the supporting cast", False),
    ("the screenplay", False),
    ("the production design", False),
    ("the camera work", False),
    ("the twist", False),
    ("the villain", False),
    ("the romance", False),
    ("the humor", False),
    ("the premise", False),
    ("the special effects", True),
    ("the visuals", True),
    ("the characters", True),
    ("the costumes", True),
    ("the action scenes", True),
    ("the fight scenes", True),
    ("the performances", True),
    ("the songs", True),
    ("the jokes", True),
)

_GENRES = (
    "horror film",
    "comedy",
    "romantic comedy",
    "thriller",
    "war drama",
    "western",
    "musical",
    "documentary",
    "animated feature",
    "science fiction film",
    "crime drama",
    "period drama",
    "family film",
    "superhero movie",
    "mystery",
    "spy thriller",
    "road movie",
    "biopic",
    "coming-of-age story",
    "disaster movie",
    "fantasy epic",
    "heist movie",
    "courtroom drama",
    "ghost story",
)

_FILMS = (
    "this movie",
    "the film",
    "this film",
    "the movie",
    "this picture",
    "the sequel",
    "this remake",
    "the new {genre}",
    "this {genre}",
    "the latest {genre} from the studio",
)

_FIRST_NAMES = (
    "Anna Tom Maria James Lena Victor Clara Samuel Nina Oscar Rosa Daniel Iris Felix Julia Marcus Elena Hugo Grace "
    "Leo Sofia Adrian Mila Peter"
).split()
_LAST_NAMES = (
    "Reyes Becker Lindqvist Moreau Okafor Hartley Novak Castillo Brennan Kowalski Sato Delgado Whitaker Ferreira "
    "Holm Abbott Varga Quinn Marsh Ellison"
).split()

_ROLES = (
    "a retired detective",
    "a young widow",
    "a struggling musician",
    "a small-town teacher",
    "a ruthless banker",
    "a lonely astronaut",
    "a war photographer",
    "a runaway teenager",
    "a grieving father",
    "an ambitious lawyer",
    "an aging boxer",
    "a country doctor",
    "a con artist",
    "a famous chef",
    "a shy librarian",
    "a disgraced politician",
)

_PLOTS = (
    "tries to save the family farm",
    "falls in love with a stranger",
    "hunts a serial killer",
    "returns home after twenty years",
    "must survive one night in the woods",
    "plans one last robbery",
    "searches for a missing sister",
    "discovers a secret about the past",
    "fights to keep a small theater open",
    "travels across the country by train",
    "is stranded on a remote island",
    "joins a band of outlaws",
    "uncovers a conspiracy at work",
    "tries to win back an old friend",
)

_PLACES = (
    "Paris",
    "Tokyo",
    "a small fishing village",
    "New York",
    "the Scottish highlands",
    "a desert town",
    "Berlin",
    "a crowded hospital",
    "a snowy mountain lodge",
    "Rome",
    "a suburban high school",
    "an abandoned factory",
    "Istanbul",
    "a space station",
)

_DECADES = ("the twenties", "the fifties", "the sixties", "the seventies", "the eighties", "the nineties")

_OCCASIONS = (
    "last weekend",
    "on a long flight",
    "with my brother",
    "at a film festival",
    "on television",
    "in an empty theater",
    "with my kids",
    "on a rainy Sunday",
    "with a group of friends",
    "at a late show",
    "on opening night",
    "with my parents",
)

_RUNTIMES = ("about two hours", "over three hours", "just ninety minutes", "almost two and a half hours")
_SOURCES = (
    "a true story",
    "a novel",
    "a comic book",
    "a stage play",
    "a short story",
    "an old television series",
)
_ORDINALS = ("first", "second", "third", "fourth", "fifth")

# (verb phrase, value): "I {verb} {film}."
_VERBS = (
    ("loved", 2.0),
    ("adored", 2.0),
    ("enjoyed", 1.0),
    ("liked", 1.0),
    ("admired", 1.0),
    ("was moved by", 1.0),
    ("was impressed by", 1.0),
    ("was charmed by", 1.0),
    ("hated", -2.0),
    ("despised", -2.0),
    ("could not stand", -2.0),
    ("disliked", -1.0),
    ("was bored by", -1.0),
    ("was disappointed by", -1.0),
    ("was annoyed by", -1.0),
    ("was confused by", -1.0),
)

# (verb phrase, value): "{Aspect} made me {reaction}."
_REACTIONS = (
    ("laugh out loud", 1.0),
    ("smile", 1.0),
    ("cry", 1.0),
    ("want to see it again", 1.5),
    ("forget the time", 1.0),
    ("cringe", -1.0),
    ("yawn", -1.0),
    ("check my watch", -1.0),
    ("want to leave", -2.0),
    ("angry", -1.0),
)

# (sentence, value); "{film}" is filled in. Several phrasings per value, so they are not single memorised lines.
_VERDICTS = (
    ("I would {adverb} recommend {film} to anyone.", 2.0),
    ("I would {adverb} recommend it to fans of the genre.", 1.5),
    ("It is worth every penny.", 2.0),
    ("Go and see it on the big screen.", 1.5),
    ("I will watch it again soon.", 1.0),
    ("I can not wait to see it again.", 1.5),
    ("My whole family enjoyed it.", 1.0),
    ("It is one of the best films of the year.", 2.0),
    ("It is better than the original.", 1.0),
    ("Do not waste your time on {film}.", -2.0),
    ("Skip this one.", -1.5),
    ("It is a complete waste of money.", -2.0),
    ("I walked out halfway through.", -2.0),
    ("I fell asleep twice.", -1.5),
    ("It is one of the worst films of the year.", -2.0),
    ("It is worse than the original.", -1.0),
    ("Wait until it is on television.", -1.0),
    ("I want my two hours back.", -1.5),
)
_RECOMMEND_ADVERBS = ("highly", "gladly", "happily", "warmly")

_NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


# ----------------------------------------------------------------------------------------------------------------
# Building blocks. Each returns (text, value).


def _article(word: str) -> str:
    return "an" if word[0] in "aeio" or word.startswith(("un", "ug", "ut")) else "a"


def _adjective(rng: random.Random, polarity: int) -> tuple[str, float]:
    """An adjective of the given polarity (+1, −1, or 0 for neutral) with its value."""
    if polarity == 0:
        word = rng.choice(_NEUTRAL_ADJECTIVES)
    elif rng.random() < 0.45:
        word = rng.choice(_POSITIVE_STRONG if polarity > 0 else _NEGATIVE_STRONG)
    else:
        word = rng.choice(_POSITIVE_MILD if polarity > 0 else _NEGATIVE_MILD)
    return word, _ADJECTIVE_VALUES[word]


def _adjective_phrase(rng: random.Random, polarity: int, *, allow_negation: bool = True) -> tuple[str, float]:
    """An adjective with an optional intensifier, downtoner or negation.

    A negation flips the sign and halves the strength, so it is used with the opposite polarity: a phrase that
    should be positive may come out as "not bad" (+0.5) or "never boring" (+0.5).
    """
    draw = rng.random()
    if polarity != 0 and allow_negation and draw < 0.12:
        word, value = _adjective(rng, -polarity)
        return f"{rng.choice(_NEGATIONS)} {word}", _NEGATED_VALUE * polarity
    word, value = _adjective(rng, polarity)
    if polarity == 0:
        return word, value
    strong = abs(value) >= 2.0
    if draw < 0.35:
        intensifier = rng.choice(_STRONG_INTENSIFIERS if strong else _MILD_INTENSIFIERS)
        return f"{intensifier} {word}", _INTENSIFIER_FACTOR * value
    if draw < 0.45 and not strong:
        return f"{rng.choice(_DOWNTONERS)} {word}", _DOWNTONER_FACTOR * value
    return word, value


def _film(rng: random.Random) -> str:
    return rng.choice(_FILMS).format(genre=rng.choice(_GENRES))


def _name(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"


def _copula(rng: random.Random, plural: bool) -> str:
    past = rng.random() < 0.3
    if plural:
        return "were" if past else "are"
    return "was" if past else "is"


def _aspect_clause(rng: random.Random, polarity: int) -> tuple[str, float]:
    aspect, plural = rng.choice(_ASPECTS)
    phrase, value = _adjective_phrase(rng, polarity)
    return f"{aspect} {_copula(rng, plural)} {phrase}", value


# ----------------------------------------------------------------------------------------------------------------
# Sentence templates. Sentiment templates take the polarity the sentence should lean to; neutral ones take none.


def _film_is(rng: random.Random, polarity: int) -> tuple[str, float]:
    phrase, value = _adjective_phrase(rng, polarity)
    return f"{_film(rng)} {_copula(rng, False)} {phrase}.", value


def _aspect_is(rng: random.Random, polarity: int) -> tuple[str, float]:
    clause, value = _aspect_clause(rng, polarity)
    return f"{clause}.", value


def _aspect_and_aspect(rng: random.Random, polarity: int) -> tuple[str, float]:
    first, first_value = _aspect_clause(rng, polarity)
    second, second_value = _aspect_clause(rng, polarity)
    return f"{first} and {second}.", first_value + second_value


def _aspect_but_aspect(rng: random.Random, polarity: int) -> tuple[str, float]:
    """A mixed sentence: the clause after "but" carries the intended polarity, the first the opposite."""
    first, first_value = _aspect_clause(rng, -polarity)
    second, second_value = _aspect_clause(rng, polarity)
    return f"{first}, but {second}.", first_value + second_value


def _despite(rng: random.Random, polarity: int) -> tuple[str, float]:
    aspect, _ = rng.choice(_ASPECTS)
    other, other_value = _adjective(rng, -polarity)
    noun = aspect.removeprefix("the ")
    phrase, value = _adjective_phrase(rng, polarity, allow_negation=False)
    return f"despite the {other} {noun}, {_film(rng)} is {phrase}.", other_value + value


def _it_is_a_genre(rng: random.Random, polarity: int) -> tuple[str, float]:
    phrase, value = _adjective_phrase(rng, polarity, allow_negation=False)
    opener = rng.choice(("it is", "this is", "what we get is", "overall it is"))
    return f"{opener} {_article(phrase)} {phrase} {rng.choice(_GENRES)}.", value


def _i_verb(rng: random.Random, polarity: int) -> tuple[str, float]:
    verb, value = rng.choice([verb for verb in _VERBS if (verb[1] > 0) == (polarity > 0)])
    target = rng.choice((_film(rng), rng.choice(_ASPECTS)[0], "every minute of it", "the whole thing"))
    if rng.random() < 0.3:
        adverb, factor = rng.choice((("really", _INTENSIFIER_FACTOR), ("honestly", 1.0), ("simply", 1.0)))
        # "I really loved", "I was really bored by", "I really could not stand"
        head, _, rest = verb.partition(" ")
        verb = f"was {adverb} {rest}" if head == "was" else f"{adverb} {verb}"
        value *= factor
    return f"I {verb} {target}.", value


def _made_me(rng: random.Random, polarity: int) -> tuple[str, float]:
    reaction, value = rng.choice([item for item in _REACTIONS if (item[1] > 0) == (polarity > 0)])
    subject = rng.choice((rng.choice(_ASPECTS)[0], _film(rng), "the last scene", "the whole thing"))
    return f"{subject} made me {reaction}.", value


def _performance(rng: random.Random, polarity: int) -> tuple[str, float]:
    phrase, value = _adjective_phrase(rng, polarity, allow_negation=False)
    return f"{_name(rng)} gives {_article(phrase)} {phrase} performance as {rng.choice(_ROLES)}.", value


def _verdict(rng: random.Random, polarity: int) -> tuple[str, float]:
    template, value = rng.choice([item for item in _VERDICTS if (item[1] > 0) == (polarity > 0)])
    return template.format(film=_film(rng), adverb=rng.choice(_RECOMMEND_ADVERBS)), value


def _rating(rng: random.Random, polarity: int) -> tuple[str, float]:
    rating = rng.randint(6, 10) if polarity > 0 else rng.randint(1, 5)
    number = _NUMBER_WORDS[rating - 1]
    text = rng.choice(
        (f"I give it {number} out of ten.", f"{number} out of ten.", f"my rating is {number} out of ten.")
    )
    return text, (rating - 5.5) / 2


def _halves(rng: random.Random, polarity: int) -> tuple[str, float]:
    """A mixed sentence; the second half carries the intended polarity."""
    first, first_value = _adjective_phrase(rng, -polarity, allow_negation=False)
    second, second_value = _adjective_phrase(rng, polarity, allow_negation=False)
    return f"the first half is {first}, but the second half is {second}.", first_value + second_value


def _neutral(rng: random.Random) -> tuple[str, float]:
    kind = rng.randrange(9)
    if kind == 0:
        text = f"I saw {_film(rng)} {rng.choice(_OCCASIONS)}."
    elif kind == 1:
        text = f"the story follows {rng.choice(_ROLES)} who {rng.choice(_PLOTS)}."
    elif kind == 2:
        text = f"it runs {rng.choice(_RUNTIMES)}."
    elif kind == 3:
        text = f"{_film(rng)} is based on {rng.choice(_SOURCES)}."
    elif kind == 4:
        text = f"{_film(rng)} is set in {rng.choice(_PLACES)} in {rng.choice(_DECADES)}."
    elif kind == 5:
        text = f"{_name(rng)} plays {rng.choice(_ROLES)} who {rng.choice(_PLOTS)}."
    elif kind == 6:
        text = f"it is the {rng.choice(_ORDINALS)} {rng.choice(_GENRES)} from {_name(rng)}."
    elif kind == 7:
        adjective = rng.choice(_NEUTRAL_ADJECTIVES)
        text = f"it is {_article(adjective)} {adjective} {rng.choice(_GENRES)} about {rng.choice(_ROLES)}."
    else:
        text = f"{_film(rng)} was shot in {rng.choice(_PLACES)}."
    return text, 0.0


# Templates with their relative frequencies. Openers must give at least PROMPT_WORDS + 1 words.
_SENTIMENT_TEMPLATES = (
    (_film_is, 3),
    (_aspect_is, 4),
    (_aspect_and_aspect, 2),
    (_aspect_but_aspect, 1.5),
    (_despite, 1),
    (_it_is_a_genre, 2),
    (_i_verb, 3),
    (_made_me, 1.5),
    (_performance, 1.5),
    (_verdict, 2),
    (_rating, 1.5),
    (_halves, 0.7),
)
_OPENER_TEMPLATES = tuple(item for item in _SENTIMENT_TEMPLATES if item[0] not in (_verdict, _rating))

_SENTENCE_COUNT_WEIGHTS = (0.15, 0.3, 0.3, 0.25)  # 1, 2, 3, 4 sentences
_NEUTRAL_SENTENCE_PROBABILITY = 0.2
_CONTRARY_SENTENCE_PROBABILITY = 0.2


def _pick(rng: random.Random, weighted: tuple) -> object:
    return rng.choices([item for item, _ in weighted], weights=[weight for _, weight in weighted])[0]


def _capitalize(sentence: str) -> str:
    return sentence[0].upper() + sentence[1:]


def _draw_review(rng: random.Random) -> tuple[str, float]:
    lean = 1 if rng.random() < 0.5 else -1
    n_sentences = rng.choices((1, 2, 3, 4), weights=_SENTENCE_COUNT_WEIGHTS)[0]
    sentences, score = [], 0.0
    for index in range(n_sentences):
        draw = rng.random()
        if index > 0 and draw < _NEUTRAL_SENTENCE_PROBABILITY:
            text, value = _neutral(rng)
        else:
            polarity = -lean if draw > 1 - _CONTRARY_SENTENCE_PROBABILITY and n_sentences > 1 else lean
            if index == 0 and n_sentences > 1 and rng.random() < _NEUTRAL_SENTENCE_PROBABILITY:
                text, value = _neutral(rng)
            else:
                template = _pick(rng, _OPENER_TEMPLATES if index == 0 else _SENTIMENT_TEMPLATES)
                text, value = template(rng, polarity)
            # The prompt is the first PROMPT_WORDS words: the opening sentence must go on beyond them.
            while index == 0 and len(text.split()) <= PROMPT_WORDS:
                text, value = _pick(rng, _OPENER_TEMPLATES)(rng, polarity)
        sentences.append(_capitalize(text))
        score += value
    return " ".join(sentences), score


def generate_reviews(n: int, seed: int = 0) -> list[Review]:
    """Generates ``n`` synthetic movie reviews with known sentiment, deterministically under ``seed``.

    Labels are balanced in expectation (each review leans positive or negative with probability ½). A review whose
    sentences cancel out (|score| < 0.5) is redrawn, so every label is clear.

    Args:
        n: number of reviews, >= 0.
        seed: seed of the generator; the same ``(n, seed)`` always gives the same reviews, and the first ``m``
            reviews of ``generate_reviews(n, seed)`` are ``generate_reviews(m, seed)``.

    Returns:
        A list of ``n`` ``Review``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int (the number of reviews), got {n!r}.")
    rng = random.Random(seed)
    reviews = []
    while len(reviews) < n:
        text, score = _draw_review(rng)
        if abs(score) < _MIN_ABS_SCORE:
            continue
        score = round(score, 4)
        prompt = " ".join(text.split()[:PROMPT_WORDS])
        reviews.append(Review(text=text, label=int(score > 0), prompt=prompt, score=score))
    return reviews


def demo_prompts(n: int, seed: int = 1) -> list[str]:
    """``n`` review openings (the first ``PROMPT_WORDS`` words of synthetic reviews) for sampling.

    Openings are distinct as long as the generator can supply ``n`` distinct ones; beyond that they repeat in
    order. Use a seed other than the one the SFT corpus was drawn with (the demo trains on seed 0) to prompt with
    reviews the model has not seen.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int (the number of prompts), got {n!r}.")
    prompts: list[str] = []
    seen: set[str] = set()
    batch = max(4 * n, 64)
    for attempt in range(20):
        for review in generate_reviews(batch, seed=seed * 1_000_003 + attempt):
            if review.prompt not in seen:
                seen.add(review.prompt)
                prompts.append(review.prompt)
                if len(prompts) == n:
                    return prompts
    if not prompts:
        return []
    return [prompts[index % len(prompts)] for index in range(n)]
