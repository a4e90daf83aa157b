from gradviz.app import main

main()
