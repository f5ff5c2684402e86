"""The words and phrases of the demo's synthetic reviews (``fdpo.demo.corpus`` assembles them into sentences).

Values are the sentiment of a word: mild adjectives ±1, strong ones ±2; intensifiers multiply by 1.5, downtoners by
0.5, and a negation turns an adjective into half its strength of the other sign. A review's score is the sum of
its words' values. Neutral material (genres, plots, places, people) is worth 0.
"""

from __future__ import annotations

POSITIVE_STRONG = (
    "brilliant superb masterful stunning magnificent outstanding extraordinary breathtaking flawless exceptional "
    "sublime dazzling spectacular unforgettable phenomenal marvelous terrific wonderful excellent fantastic amazing "
    "great glorious exhilarating"
).split()
POSITIVE_MILD = (
    "good nice fine solid pleasant charming enjoyable likable clever engaging witty lovely touching sweet sharp "
    "gripping moving heartfelt delightful inventive beautiful thoughtful compelling entertaining funny warm smart "
    "fresh memorable absorbing satisfying elegant polished tender lively"
).split()
NEGATIVE_STRONG = (
    "awful terrible dreadful atrocious abysmal horrible unwatchable painful disastrous insufferable appalling "
    "laughable pathetic embarrassing horrendous wretched miserable hopeless dismal idiotic worthless unbearable "
    "horrid excruciating"
).split()
NEGATIVE_MILD = (
    "bad poor dull boring bland weak flat clumsy tedious forgettable lazy messy predictable shallow stale sloppy "
    "tiresome uneven cheap silly confusing sluggish lifeless mediocre generic hollow overlong pointless awkward "
    "tired bloated muddled"
).split()
NEUTRAL_ADJECTIVES = (
    "long short quiet loud dark colorful old-fashioned unusual familiar modest simple strange low-budget foreign "
    "talky stylized violent sprawling intimate experimental conventional independent big-budget slow-paced "
    "fast-paced black-and-white"
).split()

ADJECTIVE_VALUES: dict[str, float] = {
    **dict.fromkeys(POSITIVE_STRONG, 2.0),
    **dict.fromkeys(POSITIVE_MILD, 1.0),
    **dict.fromkeys(NEGATIVE_STRONG, -2.0),
    **dict.fromkeys(NEGATIVE_MILD, -1.0),
    **dict.fromkeys(NEUTRAL_ADJECTIVES, 0.0),
}

MILD_INTENSIFIERS = "very really quite incredibly remarkably extremely genuinely surprisingly deeply".split()
STRONG_INTENSIFIERS = "absolutely truly utterly simply".split()
DOWNTONERS = ("somewhat", "a bit", "fairly", "mildly", "slightly", "rather")
NEGATIONS = ("not", "never", "hardly")

INTENSIFIER_FACTOR = 1.5
DOWNTONER_FACTOR = 0.5
NEGATED_VALUE = (
    1.0  # a negated adjective is mildly of the opposite sentiment: "not bad" +1, "not brilliant" −1
)

# (noun phrase, is plural)
ASPECTS = (
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

GENRES = (
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

FILMS = (
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

FIRST_NAMES = (
    "Anna Tom Maria James Lena Victor Clara Samuel Nina Oscar Rosa Daniel Iris Felix Julia Marcus Elena Hugo Grace "
    "Leo Sofia Adrian Mila Peter"
).split()
LAST_NAMES = (
    "Reyes Becker Lindqvist Moreau Okafor Hartley Novak Castillo Brennan Kowalski Sato Delgado Whitaker Ferreira "
    "Holm Abbott Varga Quinn Marsh Ellison"
).split()

ROLES = (
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

PLOTS = (
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

PLACES = (
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

DECADES = ("the twenties", "the fifties", "the sixties", "the seventies", "the eighties", "the nineties")

OCCASIONS = (
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

RUNTIMES = ("about two hours", "over three hours", "just ninety minutes", "almost two and a half hours")
SOURCES = (
    "a true story",
    "a novel",
    "a comic book",
    "a stage play",
    "a short story",
    "an old television series",
)
ORDINALS = ("first", "second", "third", "fourth", "fifth")

# (verb phrase, value): "I {verb} {film}."
VERBS = (
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
REACTIONS = (
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
VERDICTS = (
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
RECOMMEND_ADVERBS = ("highly", "gladly", "happily", "warmly")

NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
