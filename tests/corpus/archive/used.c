int helper_with_a_rather_long_member_name(int x);

int used_function(int x) { return helper_with_a_rather_long_member_name(x) + 1; }
