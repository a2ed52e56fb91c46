"""`leadflow createuser --username U --password P --role R [--team T]`."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadflow.errors import DomainError
from leadflow.users.models import Role
from leadflow.users.services import create_user


class Command(BaseCommand):
    help = "Create a user with a role, optionally in a team (created if new)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--team", help="Team name; created if it does not exist")
        parser.add_argument("--email", default="")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")

    def handle(self, *args: object, **options: str) -> None:
        try:
            user = create_user(
                username=options["username"],
                password=options["password"],
                role=options["role"],
                team_name=options["team"],
                email=options["email"],
                first_name=options["first_name"],
                last_name=options["last_name"],
            )
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        team = f" in team {user.team}" if user.team else ""
        self.stdout.write(f"Created {user.role} {user.username} (id {user.pk}){team}.")
