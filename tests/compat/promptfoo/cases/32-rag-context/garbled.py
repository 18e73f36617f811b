# A judge that answers every grading prompt with text in none of the expected shapes.
print("I think it is probably fine, more or less.")
