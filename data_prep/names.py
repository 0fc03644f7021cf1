"""Name pool for rendered puzzles: common and uncommon first names, all distinct.

No name is a substring of another (case-insensitive), so a name search in a response or prompt
never matches the wrong person; tests enforce this.
"""
from __future__ import annotations

COMMON_NAMES: tuple[str, ...] = (
    "Zoey", "Oliver", "Ethan", "Emma", "Liam", "Sophia", "Jack", "Mia", "Lucas", "Ava",
    "Noah", "Madeline", "James", "Charlotte", "Walter", "Amelia", "Henry", "Harper", "Michael", "Evelyn",
    "Daniel", "Abigail", "Matthew", "Emily", "Joseph", "Elizabeth", "David", "Sofia", "Samuel", "Avery",
    "Owen", "Scarlett", "Wyatt", "Grace", "Logan", "Chloe", "Aiden", "Victoria", "Carson", "Riley",
    "Gabriel", "Aria", "Sebastian", "Lily", "Mason", "Aubrey", "Benjamin", "Ruby", "Alexander", "Penelope",
    "Elijah", "Layla", "Carter", "Nora", "Luke", "Hazel", "Isaac", "Ellie", "Jacob", "Stella",
    "Mateo", "Violet", "Leo", "Aurora", "Julian", "Lucy", "Grayson", "Paisley", "Levi", "Madison",
    "Hudson", "Claire", "Lincoln", "Skylar", "Jayden", "Bella", "Ryan", "Naomi", "Nathan", "Elena",
)

UNCOMMON_NAMES: tuple[str, ...] = (
    "Thaddeus", "Ottoline", "Ximena", "Reinhold", "Isolde", "Caspian", "Wilhelmina", "Barnaby", "Saoirse", "Ignatius",
    "Persephone", "Evander", "Clementine", "Lysander", "Philippa", "Ambrose", "Guinevere", "Cornelius", "Marigold", "Bartholomew",
    "Anouk", "Tobias", "Xanthe", "Percival", "Odalys", "Fitzgerald", "Imogen", "Rufus", "Seraphina", "Horatio",
    "Zephyrine", "Alaric", "Wren", "Ezekiel", "Oriel", "Cosimo", "Thisbe", "Lazarus", "Delphine", "Ulysses",
    "Henrietta", "Quincy", "Ondine", "Magnus", "Beatrix", "Cyprian", "Esmeralda", "Florian", "Ilse", "Kasimir",
    "Mirabel", "Osric", "Peregrine", "Rosalind", "Sigrid", "Tiberius", "Undine", "Valentina", "Waldo", "Yusuf",
)

NAME_POOL: tuple[str, ...] = COMMON_NAMES + UNCOMMON_NAMES
