from django.apps import AppConfig


class LearnersConfig(AppConfig):
    name = "learners"

    def ready(self) -> None:
        from django.contrib.auth.models import User
        from django.db.models.signals import post_save

        from learners.signals import end_sessions_of_inactive_user

        post_save.connect(
            end_sessions_of_inactive_user, sender=User, dispatch_uid="learners.end_sessions"
        )
