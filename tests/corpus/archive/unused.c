/* Never needed by main.c: pulled in, it would fail the link twice over (a symbol nobody
 * defines, and a second definition of used_function). */
extern int symbol_nobody_defines(void);

int used_function(int x) { return x; }
int unused_function(void) { return symbol_nobody_defines(); }
