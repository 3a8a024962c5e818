# docs/examples/admin_site.py
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from oakling import App
from oakling.admin import Admin, ModelAdmin, action
from oakling.auth import Auth, User
from oakling.csrf import CSRF
from oakling.db import Database, Model
from oakling.sessions import Sessions


class Project(Model):
    __tablename__ = "docs_project"
    __permission_label__ = "docs"  # permissions: docs.view_project, docs.change_project ...

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    archived: Mapped[bool] = mapped_column(default=False)
    owner_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id"))
    owner: Mapped[User] = relationship()

    def __str__(self) -> str:
        return self.name


admin = Admin()  # the site at /admin; Admin(prefix="/staff", name="staff") for another


@admin.register(Project)
class ProjectAdmin(ModelAdmin):
    list_display = ("name", "owner__username", "archived")  # the owner is joined, not N+1
    search_fields = ("name", "^owner__username")  # ^ starts with, = exact, @ full text
    list_filter = ("archived", "owner")
    actions = ("archive",)

    @action(description="Archive selected projects")
    def archive(self, request, session, objects):
        for project in objects:
            project.archived = True

    def get_queryset(self, request):  # staff see their own projects, superusers all
        query = super().get_queryset(request)
        if request.user.is_superuser:
            return query
        return query.where(Project.owner_id == request.user.id)


# Users, groups and API tokens are registered too (Admin(register_auth=False) to skip).
app = App(plugins=[Database(), Sessions(), Auth(), CSRF(), admin])
