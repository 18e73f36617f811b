import sys

prompt = sys.argv[1]
answers = {
    "alice": '{"name": "Alice", "email": "alice@example.com", "age": 31}',
    "bob": '{"name": "Bob", "email": "not-an-email", "age": 40}',
    "carol": '{"name": "Carol", "age": "unknown"}',
    "dave": 'Here you go: {"name": "Dave", "email": "dave@example.org", "age": 22} -- done',
    "erin": '```json\n{"name": "Erin", "email": "erin@example.net", "age": 5}\n```',
}
for key, value in answers.items():
    if key in prompt.lower():
        print(value)
        break
