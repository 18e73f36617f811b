import sys

prompt = sys.argv[1]
if "2+2" in prompt:
    print("4")
elif "France" in prompt:
    print("It is paris")
elif "planet" in prompt:
    print("Jupiter")
elif "Boiling" in prompt:
    print("100")
elif prompt.startswith("Please answer:"):
    print("Blue, mostly")
else:
    print(prompt)
