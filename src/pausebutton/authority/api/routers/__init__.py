"""One ``APIRouter`` per OpenAPI tag; ``create_app`` includes them all."""
