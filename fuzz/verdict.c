/*
 * For fuzz/differential.py: refill's verdict on each file named on
 * standard input, one a line, as a line of output: "ok HEX" with the hex
 * of the canonical form of the file's bytes taken as one record, or
 * "bad REASON".  One process for the whole corpus: no program start-up
 * per input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refill.h"

int
main(void)
{
	char *name = NULL;
	size_t cap = 0;
	ssize_t len;
	rf_buf in = { 0 }, c = { 0 };
	rf_err e;

	while ((len = getline(&name, &cap, stdin)) > 0) {
		if (name[len - 1] == '\n')
			name[len - 1] = '\0';
		in.len = c.len = 0;
		if (rf_read_file(name, SIZE_MAX / 2, &in, &e) < 0) {
			fprintf(stderr, "verdict: %s\n", e.msg);
			return 4;
		}
		if (rf_json_canon(in.p, in.len, &c, &e) < 0) {
			printf("bad %s\n", e.msg);
			continue;
		}
		fputs("ok ", stdout);
		for (size_t i = 0; i < c.len; i++)
			printf("%02x", (unsigned char)c.p[i]);
		putchar('\n');
	}
	free(name);
	rf_buf_free(&in);
	rf_buf_free(&c);
	return ferror(stdout) || fclose(stdout) != 0 ? 4 : 0;
}
