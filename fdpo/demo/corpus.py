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

from fdpo.demo import _vocabulary as words

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
# Building blocks. Each returns (text, value).


def _article(word: str) -> str:
    return "an" if word[0] in "aeio" or word.startswith(("un", "ug", "ut")) else "a"


def _adjective(rng: random.Random, polarity: int) -> tuple[str, float]:
    """An adjective of the given polarity (+1, −1, or 0 for neutral) with its value."""
    if polarity == 0:
        word = rng.choice(words.NEUTRAL_ADJECTIVES)
    elif rng.random() < 0.45:
        word = rng.choice(words.POSITIVE_STRONG if polarity > 0 else words.NEGATIVE_STRONG)
    else:
        word = rng.choice(words.POSITIVE_MILD if polarity > 0 else words.NEGATIVE_MILD)
    return word, words.ADJECTIVE_VALUES[word]


def _adjective_phrase(rng: random.Random, polarity: int, *, allow_negation: bool = True) -> tuple[str, float]:
    """An adjective with an optional intensifier, downtoner or negation.

    A negation flips the sign and halves the strength, so it is used with the opposite polarity: a phrase that
    should be positive may come out as "not bad" (+0.5) or "never boring" (+0.5).
    """
    draw = rng.random()
    if polarity != 0 and allow_negation and draw < 0.12:
        word, value = _adjective(rng, -polarity)
        return f"{rng.choice(words.NEGATIONS)} {word}", words.NEGATED_VALUE * polarity
    word, value = _adjective(rng, polarity)
    if polarity == 0:
        return word, value
    strong = abs(value) >= 2.0
    if draw < 0.35:
        intensifier = rng.choice(words.STRONG_INTENSIFIERS if strong else words.MILD_INTENSIFIERS)
        return f"{intensifier} {word}", words.INTENSIFIER_FACTOR * value
    if draw < 0.45 and not strong:
        return f"{rng.choice(words.DOWNTONERS)} {word}", words.DOWNTONER_FACTOR * value
    return word, value


def _film(rng: random.Random) -> str:
    return rng.choice(words.FILMS).format(genre=rng.choice(words.GENRES))


def _name(rng: random.Random) -> str:
    return f"{rng.choice(words.FIRST_NAMES)} {rng.choice(words.LAST_NAMES)}"


def _copula(rng: random.Random, plural: bool) -> str:
    past = rng.random() < 0.3
    if plural:
        return "were" if past else "are"
    return "was" if past else "is"


def _aspect_clause(rng: random.Random, polarity: int) -> tuple[str, float]:
    aspect, plural = rng.choice(words.ASPECTS)
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
    aspect, _ = rng.choice(words.ASPECTS)
    other, other_value = _adjective(rng, -polarity)
    noun = aspect.removeprefix("the ")
    phrase, value = _adjective_phrase(rng, polarity, allow_negation=False)
    return f"despite the {other} {noun}, {_film(rng)} is {phrase}.", other_value + value


def _it_is_a_genre(rng: random.Random, polarity: int) -> tuple[str, float]:
    phrase, value = _adjective_phrase(rng, polarity, allow_negation=False)
    opener = rng.choice(("it is", "this is", "what we get is", "overall it is"))
    return f"{opener} {_article(phrase)} {phrase} {rng.choice(words.GENRES)}.", value


def _i_verb(rng: random.Random, polarity: int) -> tuple[str, float]:
    verb, value = rng.choice([verb for verb in words.VERBS if (verb[1] > 0) == (polarity > 0)])
    target = rng.choice((_film(rng), rng.choice(words.ASPECTS)[0], "every minute of it", "the whole thing"))
    if rng.random() < 0.3:
        adverb, factor = rng.choice(
            (("really", words.INTENSIFIER_FACTOR), ("honestly", 1.0), ("simply", 1.0))
        )
        # "I really loved", "I was really bored by", "I really could not stand"
        head, _, rest = verb.partition(" ")
        verb = f"was {adverb} {rest}" if head == "was" else f"{adverb} {verb}"
        value *= factor
    return f"I {verb} {target}.", value


def _made_me(rng: random.Random, polarity: int) -> tuple[str, float]:
    reaction, value = rng.choice([item for item in words.REACTIONS if (item[1] > 0) == (polarity > 0)])
    subject = rng.choice((rng.choice(words.ASPECTS)[0], _film(rng), "the last scene", "the whole thing"))
    return f"{subject} made me {reaction}.", value


def _performance(rng: random.Random, polarity: int) -> tuple[str, float]:
    phrase, value = _adjective_phrase(rng, polarity, allow_negation=False)
    return f"{_name(rng)} gives {_article(phrase)} {phrase} performance as {rng.choice(words.ROLES)}.", value


def _verdict(rng: random.Random, polarity: int) -> tuple[str, float]:
    template, value = rng.choice([item for item in words.VERDICTS if (item[1] > 0) == (polarity > 0)])
    return template.format(film=_film(rng), adverb=rng.choice(words.RECOMMEND_ADVERBS)), value


def _rating(rng: random.Random, polarity: int) -> tuple[str, float]:
    rating = rng.randint(6, 10) if polarity > 0 else rng.randint(1, 5)
    number = words.NUMBER_WORDS[rating - 1]
    text = rng.choice(
        (f"I give it {number} out of ten.", f"{number} out of ten.", f"my rating is {number} out of ten.")
    )
    return text, (rating - 5.5) / 2


def _halves(rng: random.Random, polarity: int) -> tuple[str, float]:
    """A mixed sentence; the second half carries the intended polarity."""
    first, first_value = _adjective_phrase(rng, -polarity, allow_negation=False)
    second, second_value = _adjective_phrase(rng, polarity, allow_negation=False)
    return f"the first half is {first}, but the second half is {second}.", first_value + second_value


def _neutral_genre(rng: random.Random) -> str:
    adjective = rng.choice(words.NEUTRAL_ADJECTIVES)
    return (
        f"it is {_article(adjective)} {adjective} {rng.choice(words.GENRES)} about {rng.choice(words.ROLES)}."
    )


# The neutral sentences, drawn uniformly; each fills its slots left to right.
_NEUTRAL_SENTENCES = (
    lambda rng: f"I saw {_film(rng)} {rng.choice(words.OCCASIONS)}.",
    lambda rng: f"the story follows {rng.choice(words.ROLES)} who {rng.choice(words.PLOTS)}.",
    lambda rng: f"it runs {rng.choice(words.RUNTIMES)}.",
    lambda rng: f"{_film(rng)} is based on {rng.choice(words.SOURCES)}.",
    lambda rng: f"{_film(rng)} is set in {rng.choice(words.PLACES)} in {rng.choice(words.DECADES)}.",
    lambda rng: f"{_name(rng)} plays {rng.choice(words.ROLES)} who {rng.choice(words.PLOTS)}.",
    lambda rng: f"it is the {rng.choice(words.ORDINALS)} {rng.choice(words.GENRES)} from {_name(rng)}.",
    _neutral_genre,
    lambda rng: f"{_film(rng)} was shot in {rng.choice(words.PLACES)}.",
)


def _neutral(rng: random.Random) -> tuple[str, float]:
    return _NEUTRAL_SENTENCES[rng.randrange(len(_NEUTRAL_SENTENCES))](rng), 0.0


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
