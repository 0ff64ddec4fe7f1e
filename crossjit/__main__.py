from crossjit.cli.launcher import main

main()
