# Deterministic stand-in for a translator: a fixed phrase book.
import sys

prompt = sys.argv[1]
book = {
    ("French", "Hello world"): "Bonjour le monde",
    ("German", "I'm hungry"): "Ich habe Hunger",
    ("Spanish", "Where is the library?"): "¿Dónde está la biblioteca?",
    ("Pirate", "Where is the treasure?"): "Where be the booty?",
    ("French", "Good night"): "Bonne nuit",
}
head, text = prompt.split(": ", 1)
language = head.split()[-1]
answer = book.get((language, text), "?")
if prompt.startswith("Rephrase"):
    answer = answer.upper()
print(answer)
