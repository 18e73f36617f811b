import sys

answers = {
    "yellow fruits": "Banana lemon pineapple",
    "fruits high in potassium": "Banana, avocado and apricot",
    "fruits that are long": "banana banana plantain",
    "fruits that smell bad": "Durian smells awful",
}
prompt = sys.argv[1]
for key, value in answers.items():
    if key in prompt:
        print(value)
        break
else:
    print("no idea")
