extern int not_defined_anywhere(int);
extern int also_missing;
int main(void) { return not_defined_anywhere(also_missing); }
