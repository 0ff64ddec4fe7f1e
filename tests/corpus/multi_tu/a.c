static int helper(void) { return 20; }
static const char *tag = "a";
int shared_counter = 5;
extern int main_callback(int);
int a_value(void) { shared_counter++; return helper() + main_callback(0); }
const char *a_tag(void) { return tag; }
