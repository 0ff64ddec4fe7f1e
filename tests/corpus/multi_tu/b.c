static int helper(void) { return 300; }
extern int shared_counter;
extern int a_value(void);
int b_value(void) { return helper() + shared_counter; }
