"""`leadflow token create USERNAME [--name N]`: issue an API token (printed as the last line)."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadflow.users.models import User
from leadflow.users.services import create_api_token


class Command(BaseCommand):
    help = "Manage API tokens. `token create USERNAME` prints a new token as the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Issue a new token for a user")
        create.add_argument("username")
        create.add_argument("--name", default="", help="What the token is for")

    def handle(self, *args: object, **options: str) -> None:
        user = User.objects.filter(username__iexact=options["username"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {options['username']!r}.")
        token, key = create_api_token(user=user, name=options["name"])
        self.stderr.write(f"Token {token.prefix}… for {user.username} ({user.role}). It is shown once; keep it safe.")
        self.stdout.write(key)
