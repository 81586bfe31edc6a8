from services.verification.app import main

main()
