"""nbgrader configuration of the course: sources in solutions/, the student release in assignments/."""

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "image-recognition-pytorch"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
