from crossjit.launcher import main

main()
