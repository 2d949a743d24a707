import pytest
from django.core.exceptions import ValidationError

from grids.models import Area, Tier


@pytest.mark.django_db
class TestAreaTree:
    def test_path_is_built_from_codes(self, tree):
        assert tree.district.path == "370702/"
        assert tree.building_a.path == "370702/370702001/370702001001/370702001001001/370702001001001001/"
        assert tree.building_a.depth == 4

    def test_subtree_is_one_query(self, tree, django_assert_num_queries):
        with django_assert_num_queries(1):
            codes = sorted(a.code for a in tree.street_a.descendants(include_self=True))
        assert codes == ["370702001", "370702001001", "370702001001001", "370702001001001001"]

    def test_ancestors_are_one_query_in_order(self, tree, django_assert_num_queries):
        with django_assert_num_queries(1):
            names = [a.name for a in tree.building_a.ancestors()]
        assert names == ["示范区", "甲街道", "甲一社区", "甲一网格"]

    def test_subtree_of_several_roots(self, tree, django_assert_num_queries):
        with django_assert_num_queries(1):
            tiers = list(Area.objects.subtree_of(tree.grid_a.path, tree.grid_b.path).values_list("tier", flat=True))
        assert sorted(tiers) == ["building", "grid", "grid"]

    def test_moving_a_community_reroots_its_subtree(self, tree):
        tree.community_a.parent = tree.street_b
        tree.community_a.code = "370702002009"
        tree.community_a.save()
        tree.building_a.refresh_from_db()
        assert tree.building_a.path.startswith("370702/370702002/370702002009/")
        assert tree.building_a in tree.street_b.descendants()
        assert tree.building_a not in tree.street_a.descendants()

    def test_a_grid_cannot_hang_under_a_street(self, tree):
        area = Area(tier=Tier.GRID, code="370702001009", name="错层网格", parent=tree.street_a)
        with pytest.raises(ValidationError) as err:
            area.full_clean()
        assert "parent" in err.value.message_dict

    def test_code_must_extend_the_parent_code(self, tree):
        area = Area(tier=Tier.COMMUNITY, code="370702002005", name="错码社区", parent=tree.street_a)
        with pytest.raises(ValidationError) as err:
            area.full_clean()
        assert "370702001" in err.value.message_dict["code"][0]

    def test_an_area_cannot_move_under_itself(self, tree):
        tree.street_a.parent = tree.community_a
        with pytest.raises(ValidationError):
            tree.street_a.full_clean()
