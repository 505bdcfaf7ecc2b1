/* input.h - read answers line by line from a fd, with a deadline. */
#ifndef PAMKIT_TOOLS_INPUT_H
#define PAMKIT_TOOLS_INPUT_H

#include <stddef.h>

/* Longest accepted answer, as Linux-PAM's misc_conv (Debian) accepts. */
#define INPUT_MAX_LINE 4095

enum input_status {
	INPUT_LINE = 0,		/* *line is a malloc'd answer (wipe it) */
	INPUT_EOF,		/* end of input before a line */
	INPUT_TOO_LONG,		/* line over INPUT_MAX_LINE bytes */
	INPUT_TIMEOUT,		/* no whole line within the timeout */
	INPUT_ERROR,		/* read/poll/alloc error; errno is set */
};

/*
 * Wait up to timeout_ms (-1: forever) for one line on fd (the newline is
 * dropped; a last line without a newline counts).  Bytes after the line
 * stay buffered for the next call.
 */
enum input_status input_read_line(int fd, int timeout_ms, char **line);
/* Wipe the buffer of bytes read ahead. */
void input_wipe(void);

#endif
