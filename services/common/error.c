/* error: filling the structured refusal (see error.h). */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

int oro_error_set(struct oro_error *e, const char *code, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	snprintf(e->code, sizeof e->code, "%s", code);
	snprintf(e->field, sizeof e->field, "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
	return -1;
}

bool oro_error_isset(const struct oro_error *e)
{
	return e != NULL && e->code[0] != '\0';
}
