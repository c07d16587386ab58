from driftline.stream.cli import main

main()
