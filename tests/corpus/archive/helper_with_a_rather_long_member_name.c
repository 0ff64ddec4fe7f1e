/* A member name longer than 15 characters: GNU ar keeps it in the // table. */
int helper_with_a_rather_long_member_name(int x) { return 2 * x; }
