#!/usr/bin/env bats
# The README's tour is pasted by new users: every command in it must print
# what the README says it prints.

load helpers

@test "README: every command of the tour prints what the README shows" {
	mkdir tour
	run -0 env PATH="$B:$PATH" python3 "$T/readme.py" "$T/../README.md" tour
}
